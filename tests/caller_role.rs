//! The SNS caller role (`SNS_CALLER_ARN`): the AssumeRole request the function makes, the credentials Publish
//! is signed with, their refresh before they expire, and a refused role's own outcome. STS and SNS are a small
//! local endpoint that records every request and answers as AWS does; the function's SDK clients are real.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_smithy_types::date_time::{DateTime, Format};
use cognito_sms_sender::config::CallerRole;
use cognito_sms_sender::destination::attributes::SmsAttributes;
use cognito_sms_sender::destination::phone::PhoneNumber;
use cognito_sms_sender::destination::routing::Routes;
use cognito_sms_sender::message::event::TriggerSource;
use cognito_sms_sender::publish::sns::{RegionalClients, SnsPublisher};
use cognito_sms_sender::publish::{MessageAttributes, PublishError, Publisher};
use cognito_sms_sender::sender::outcome::{Outcome, SendError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ROLE: &str = "arn:aws:iam::123456789012:role/CognitoSnsCaller";
/// The function's own access key: only AssumeRole may be signed with it.
const FUNCTION_KEY: &str = "AKIAFUNCTIONOWNKEY00";

/// One request the endpoint received: the access key id it was signed with and its form parameters.
#[derive(Debug, Clone)]
struct Seen {
    access_key: String,
    params: HashMap<String, String>,
}

/// How the endpoint answers AssumeRole: credentials valid for this long, or a refusal.
#[derive(Clone, Copy)]
enum Sts {
    Grants(Duration),
    Refuses,
}

/// A local STS + SNS endpoint on loopback; returns its URL and what it has seen.
async fn endpoint(sts: Sts) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let request = read_request(&mut stream).await;
            let response = {
                let mut seen = log.lock().unwrap();
                seen.push(request.clone());
                answer(&request, sts, seen.iter().filter(|s| s.params["Action"] == "AssumeRole").count())
            };
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    (url, seen)
}

/// Reads one HTTP request: the Authorization header's access key id and the form body's parameters.
async fn read_request(stream: &mut tokio::net::TcpStream) -> Seen {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.unwrap();
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = text[..end].to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
            if buf.len() >= end + 4 + length || n == 0 {
                let access_key = text[..end]
                    .lines()
                    .find_map(|l| l.split_once("Credential=").map(|(_, c)| c.split('/').next().unwrap().to_owned()))
                    .unwrap_or_default();
                let body = &text[end + 4..];
                let params = body
                    .split('&')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_owned(), decode(v)))
                    .collect();
                return Seen { access_key, params };
            }
        }
    }
}

fn decode(v: &str) -> String {
    let v = v.replace('+', " ");
    let mut out = Vec::new();
    let bytes = v.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() + 1 {
            out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// STS's and SNS's answers, as their Query APIs write them. The `n`th AssumeRole grants key `ASIAROLE<n>`.
fn answer(request: &Seen, sts: Sts, n: usize) -> String {
    let (status, body) = match (request.params["Action"].as_str(), sts) {
        ("AssumeRole", Sts::Grants(valid_for)) => {
            let expires = DateTime::from(SystemTime::now() + valid_for).fmt(Format::DateTime).unwrap();
            (200, format!(
                "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult><Credentials><AccessKeyId>ASIAROLE{n}</AccessKeyId><SecretAccessKey>secret{n}</SecretAccessKey><SessionToken>token{n}</SessionToken><Expiration>{expires}</Expiration></Credentials><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/CognitoSnsCaller/cognito-sms-sender</Arn><AssumedRoleId>AROA:cognito-sms-sender</AssumedRoleId></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>r-{n}</RequestId></ResponseMetadata></AssumeRoleResponse>"
            ))
        }
        ("AssumeRole", Sts::Refuses) => (403, "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User is not authorized to perform: sts:AssumeRole</Message></Error><RequestId>r-0</RequestId></ErrorResponse>".to_owned()),
        ("Publish", _) => (200, "<PublishResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><PublishResult><MessageId>mid-1</MessageId></PublishResult><ResponseMetadata><RequestId>r-p</RequestId></ResponseMetadata></PublishResponse>".to_owned()),
        (other, _) => panic!("unexpected call {other}"),
    };
    format!(
        "HTTP/1.1 {status} X\r\ncontent-type: text/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A publisher configured as the function configures it, against `url`, with the function's own credentials.
async fn publisher(url: &str, external_id: Option<&str>) -> SnsPublisher {
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(url)
        .time_source(aws_smithy_async::time::SystemTimeSource::new())
        .sleep_impl(aws_smithy_async::rt::sleep::default_async_sleep().unwrap())
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
            aws_credential_types::Credentials::new(FUNCTION_KEY, "function-secret", None, None, "function"),
        ))
        .build();
    let role = CallerRole { role_arn: ROLE.into(), external_id: external_id.map(str::to_owned) };
    SnsPublisher::new(Arc::new(RegionalClients::new(&sdk, Some(&role)).await))
}

async fn publish(p: &SnsPublisher) -> Result<String, PublishError> {
    let routes = Routes::from_attributes(&SmsAttributes::default());
    let route = routes.route_for_country(None);
    let attributes = MessageAttributes { route, source: &TriggerSource::SignUp, pool: "us-east-1_Role" };
    p.publish("us-east-1", &PhoneNumber::parse(Some("+12065550100")).unwrap(), "Your code is 424242", &attributes).await
}

fn calls(seen: &Mutex<Vec<Seen>>, action: &str) -> Vec<Seen> {
    seen.lock().unwrap().iter().filter(|s| s.params["Action"] == action).cloned().collect()
}

#[tokio::test]
async fn publish_is_signed_with_the_assumed_role_and_the_assume_role_request_is_exact() {
    let (url, seen) = endpoint(Sts::Grants(Duration::from_secs(3600))).await;
    let p = publisher(&url, Some("ext-7f3a")).await;
    assert_eq!(publish(&p).await, Ok("mid-1".to_owned()));
    assert_eq!(publish(&p).await, Ok("mid-1".to_owned()));
    let assume = calls(&seen, "AssumeRole");
    assert_eq!(assume.len(), 1, "credentials valid for an hour are reused");
    let params = &assume[0].params;
    assert_eq!(params["RoleArn"], ROLE);
    assert_eq!(params["ExternalId"], "ext-7f3a");
    assert_eq!(params["RoleSessionName"], "cognito-sms-sender");
    assert_eq!(assume[0].access_key, FUNCTION_KEY, "AssumeRole is the one call signed with the function's own key");
    let keys: Vec<String> = calls(&seen, "Publish").into_iter().map(|s| s.access_key).collect();
    assert_eq!(keys, ["ASIAROLE1", "ASIAROLE1"], "Publish is signed with the role's credentials");
}

#[tokio::test]
async fn without_an_external_id_none_is_sent() {
    let (url, seen) = endpoint(Sts::Grants(Duration::from_secs(3600))).await;
    publish(&publisher(&url, None).await).await.unwrap();
    assert!(!calls(&seen, "AssumeRole")[0].params.contains_key("ExternalId"));
}

#[tokio::test]
async fn credentials_are_refreshed_before_they_expire() {
    // Credentials that expire within the SDK's refresh margin are replaced before the next call, not used up.
    let (url, seen) = endpoint(Sts::Grants(Duration::from_secs(5))).await;
    let p = publisher(&url, None).await;
    publish(&p).await.unwrap();
    publish(&p).await.unwrap();
    let keys: Vec<String> = calls(&seen, "Publish").into_iter().map(|s| s.access_key).collect();
    assert_eq!(calls(&seen, "AssumeRole").len(), 2);
    assert_eq!(keys, ["ASIAROLE1", "ASIAROLE2"], "each Publish is signed with credentials not about to expire");
}

#[tokio::test]
async fn a_refused_role_has_its_own_outcome_and_says_what_to_check() {
    let (url, seen) = endpoint(Sts::Refuses).await;
    let err = publish(&publisher(&url, Some("ext-7f3a")).await).await.unwrap_err();
    assert!(calls(&seen, "Publish").is_empty(), "nothing is published without the role");
    let err = SendError::Publish(err);
    assert_eq!(err.outcome(), Outcome::SnsCallerRoleRefused);
    assert_eq!(err.outcome().as_str(), "sns_caller_role_refused");
    assert!(!err.is_transient(), "a refusal lasts until the trust policy is fixed");
    let reason = err.to_string();
    assert!(reason.contains(ROLE) && reason.contains("trust policy") && reason.contains("SNS_EXTERNAL_ID"), "{reason}");
    assert!(!reason.contains("ext-7f3a"), "the external ID is not logged");
}
