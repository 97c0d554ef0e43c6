//! Regions: which Amazon SNS Region sends the SMS (Cognito's table, <https://docs.aws.amazon.com/cognito/latest/developerguide/user-pool-sms-settings.html>),
//! and the Region names and user pool ids that events carry.

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

/// Whether `s` looks like a Region name (`xx-xxxx-N`, 5–32 characters). Used for `SNS_REGION` and the event.
pub fn is_region_name(s: &str) -> bool {
    (5..=32).contains(&s.len())
        && s.split('-').count() >= 3
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.bytes().last().is_some_and(|b| b.is_ascii_digit())
}

/// The Region of a user pool, from its id (`us-east-1_AbCdEf123` → `us-east-1`); `None` for anything that is
/// not shaped like a pool id.
pub fn pool_region(user_pool_id: &str) -> Option<&str> {
    let (region, id) = user_pool_id.split_once('_')?;
    let id_ok = !id.is_empty() && id.len() <= 40 && id.bytes().all(|b| b.is_ascii_alphanumeric());
    (is_region_name(region) && id_ok).then_some(region)
}

/// `<region>_<id>` as Cognito spells pool ids.
pub fn is_user_pool_id(s: &str) -> bool {
    pool_region(s).is_some()
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

    #[test]
    fn pool_ids_name_their_region() {
        assert_eq!(pool_region("eu-west-2_AbC123"), Some("eu-west-2"));
        assert!(is_user_pool_id("us-east-1_EXAMPLE"));
        for bad in ["us-east-1_", "EXAMPLE", "us-east-1_a-b", "US-EAST-1_x", &format!("us-east-1_{}", "a".repeat(41))] {
            assert_eq!(pool_region(bad), None, "{bad}");
        }
    }
}
