//! Which Amazon SNS Region sends the SMS (REFERENCE §4, seed `001_…`).

/// The SNS Region for a pool in `cognito_region`: the configured override when given, otherwise the pool's own
/// Region, except Asia Pacific (Seoul), which must use Asia Pacific (Tokyo). A Region the table does not list
/// uses itself, as Cognito does for Regions launched after the table.
pub fn sns_region<'a>(cognito_region: &'a str, configured: Option<&'a str>) -> &'a str {
    if let Some(r) = configured {
        return r;
    }
    match cognito_region {
        "ap-northeast-2" => "ap-northeast-1",
        own => own,
    }
}

/// Legacy alternates Cognito used for pools created without `SnsRegion`, preferred first. Documented here so
/// an operator can set `SNS_REGION` to one of them; the function itself sends from the preferred Region.
pub fn legacy_alternates(cognito_region: &str) -> &'static [&'static str] {
    match cognito_region {
        "us-east-2" => &["us-east-2", "us-east-1"],
        "ap-south-1" => &["ap-south-1", "ap-southeast-1"],
        "ca-central-1" => &["ca-central-1", "us-east-1"],
        "eu-central-1" => &["eu-central-1", "eu-west-1"],
        "eu-west-2" => &["eu-west-2", "eu-west-1"],
        "ap-northeast-2" => &["ap-northeast-1"],
        _ => &[],
    }
}

/// Whether `s` looks like a Region name (`xx-xxxx-N`, 5–32 characters). Used for `SNS_REGION` and the event.
pub fn is_region_name(s: &str) -> bool {
    (5..=32).contains(&s.len())
        && s.split('-').count() >= 3
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.bytes().last().is_some_and(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seoul_uses_tokyo() {
        assert_eq!(sns_region("ap-northeast-2", None), "ap-northeast-1");
    }

    #[test]
    fn table_regions_use_themselves() {
        for r in [
            "us-east-1",
            "us-east-2",
            "us-west-1",
            "us-west-2",
            "ap-south-1",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-northeast-1",
            "ca-central-1",
            "eu-central-1",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
            "eu-north-1",
            "eu-south-1",
            "me-south-1",
            "sa-east-1",
        ] {
            assert_eq!(sns_region(r, None), r);
        }
        // Not in the table: its own Region.
        assert_eq!(sns_region("ap-southeast-7", None), "ap-southeast-7");
        assert_eq!(legacy_alternates("eu-west-2"), ["eu-west-2", "eu-west-1"]);
    }

    #[test]
    fn override_wins() {
        assert_eq!(sns_region("ap-northeast-2", Some("us-west-2")), "us-west-2");
        assert_eq!(sns_region("eu-west-2", Some("eu-west-1")), "eu-west-1");
    }

    #[test]
    fn region_names() {
        assert!(is_region_name("us-east-1"));
        assert!(is_region_name("us-gov-west-1"));
        assert!(!is_region_name("us"));
        assert!(!is_region_name("US-EAST-1"));
        assert!(!is_region_name("us-east"));
        assert!(!is_region_name(&format!("{}-1", "a-".repeat(20))));
    }
}
