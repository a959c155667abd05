//! Rate-limit arithmetic (GCRA, the generic cell rate algorithm): a burst of `limit`
//! requests, then one more every `period / limit`. The state is one number, the theoretical
//! arrival time, kept by the `RateLimiter` Durable Object of each key.

use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub limit: u32,
    pub period_s: u32,
}

impl Rule {
    /// `"N/S"` (N requests per S seconds) or `"off"` (`None`).
    pub fn parse(s: &str) -> Result<Option<Self>, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let (n, p) = s
            .split_once('/')
            .ok_or_else(|| format!("expected N/SECONDS or off, got {s:?}"))?;
        let limit: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("bad count in {s:?}"))?;
        let period_s: u32 = p
            .trim()
            .parse()
            .map_err(|_| format!("bad period in {s:?}"))?;
        if limit == 0 || period_s == 0 || period_s > 86_400 * 7 {
            return Err(format!(
                "count and period must be positive (period at most a week): {s:?}"
            ));
        }
        Ok(Some(Self { limit, period_s }))
    }

    /// The same period with `factor` times the count: a wider network's share.
    pub fn scaled(self, factor: u32) -> Self {
        Self {
            limit: self.limit.saturating_mul(factor.max(1)),
            period_s: self.period_s,
        }
    }

    fn interval_ms(self) -> i64 {
        (i64::from(self.period_s) * 1000 / i64::from(self.limit)).max(1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow { tat_ms: i64 },
    Deny { retry_after_s: u64 },
}

/// One request at `now_ms` against the stored theoretical arrival time (`None`: a fresh key).
pub fn check(tat_ms: Option<i64>, now_ms: i64, rule: Rule) -> Decision {
    let interval = rule.interval_ms();
    let burst = i64::from(rule.period_s) * 1000 - interval;
    let tat = tat_ms.unwrap_or(now_ms).max(now_ms);
    let ahead = tat - now_ms;
    if ahead > burst {
        let wait_ms = ahead - burst;
        Decision::Deny {
            retry_after_s: ((wait_ms + 999) / 1000).max(1) as u64,
        }
    } else {
        Decision::Allow {
            tat_ms: tat + interval,
        }
    }
}

/// The longest a key stays stored after it is as good as fresh (`forget_at_ms`).
pub const FORGET_GRACE_MAX_MS: i64 = 60_000;

/// When a key's stored state is forgotten. From the theoretical arrival time on, `check`
/// answers exactly as for a key never seen (the whole burst is back), so the state may go
/// then; it stays one more period, at most `FORGET_GRACE_MAX_MS`. Deleting an object's
/// storage is the costliest thing a limiter does (3–14% of the isolate's CPU in profiles under
/// load), and a key used a little more slowly than its rule's emission interval (a user's
/// writes every few seconds under 60/60) was otherwise deleted and created again between every
/// two requests; a key seen once still leaves nothing behind soon after.
pub fn forget_at_ms(tat_ms: i64, rule: Rule) -> i64 {
    tat_ms + (i64::from(rule.period_s) * 1000).min(FORGET_GRACE_MAX_MS)
}

/// How many times the /64 rule a whole IPv6 /48 gets. A /48 is one site (65536 /64s): counted
/// on its own, a client rotating through its /64s would multiply every limit by 65536.
pub const IPV6_48_FACTOR: u32 = 4;

/// One bucket a client is counted in: its key, and the factor its rule's count is scaled by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub key: String,
    pub factor: u32,
}

/// The bucket of a per-address limit: a digest of the normalised address, so the limiter
/// object's name (kept by the platform, outside our storage and its purge) holds no address.
pub fn email_bucket(normalised_email: &str) -> String {
    format!("h{}", crate::core::crypto::token_hash(normalised_email))
}

/// The buckets of a client address: the address itself for IPv4; for IPv6 both its /64 (one
/// subscriber usually holds a whole /64) and its /48, with `IPV6_48_FACTOR` times the rule.
/// A request passes only when every bucket allows it. Unparsable input shares one bucket.
pub fn client_buckets(ip: Option<&str>) -> Vec<Bucket> {
    let one = |key: String| Bucket { key, factor: 1 };
    match ip.and_then(|s| s.trim().parse::<IpAddr>().ok()) {
        Some(IpAddr::V4(v4)) => vec![one(v4.to_string())],
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => vec![one(v4.to_string())],
            None => {
                let s = v6.segments();
                vec![
                    one(format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])),
                    Bucket {
                        key: format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2]),
                        factor: IPV6_48_FACTOR,
                    },
                ]
            }
        },
        None => vec![one("unknown".into())],
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_address_bucket_is_stable_and_does_not_contain_the_address() {
        let a = super::email_bucket("ada@example.test");
        assert_eq!(a, super::email_bucket("ada@example.test"));
        assert_ne!(a, super::email_bucket("bob@example.test"));
        assert!(!a.contains("ada") && !a.contains("example"), "{a}");
    }

    use super::*;

    const RULE: Rule = Rule {
        limit: 3,
        period_s: 6,
    };

    fn run(n: usize, now: i64, mut tat: Option<i64>) -> (Vec<bool>, Option<i64>) {
        let mut out = vec![];
        for _ in 0..n {
            match check(tat, now, RULE) {
                Decision::Allow { tat_ms } => {
                    tat = Some(tat_ms);
                    out.push(true)
                }
                Decision::Deny { .. } => out.push(false),
            }
        }
        (out, tat)
    }

    #[test]
    fn a_burst_of_limit_passes_then_requests_are_denied() {
        let (out, _) = run(5, 0, None);
        assert_eq!(out, [true, true, true, false, false]);
    }

    #[test]
    fn one_more_request_is_allowed_per_interval() {
        let (_, tat) = run(3, 0, None);
        assert!(matches!(
            check(tat, 1_999, RULE),
            Decision::Deny { retry_after_s: 1 }
        ));
        assert!(matches!(check(tat, 2_000, RULE), Decision::Allow { .. }));
    }

    #[test]
    fn retry_after_says_when_the_next_request_passes() {
        let (_, tat) = run(3, 0, None);
        let Decision::Deny { retry_after_s } = check(tat, 0, RULE) else {
            panic!("denied")
        };
        assert_eq!(retry_after_s, 2);
        assert!(matches!(check(tat, 2_000, RULE), Decision::Allow { .. }));
    }

    #[test]
    fn an_idle_key_recovers_its_whole_burst() {
        let (_, tat) = run(3, 0, None);
        let (out, _) = run(3, 60_000, tat);
        assert_eq!(out, [true, true, true]);
    }

    #[test]
    fn rules_parse_and_off_disables() {
        assert_eq!(
            Rule::parse("20/60"),
            Ok(Some(Rule {
                limit: 20,
                period_s: 60
            }))
        );
        assert_eq!(Rule::parse("off"), Ok(None));
        assert!(Rule::parse("0/60").is_err());
        assert!(Rule::parse("ten").is_err());
    }

    fn keys(ip: &str) -> Vec<String> {
        client_buckets(Some(ip))
            .into_iter()
            .map(|b| b.key)
            .collect()
    }

    #[test]
    fn ipv6_clients_are_grouped_by_64_and_by_48() {
        assert_eq!(keys("2001:db8:1:2:aaaa::1"), keys("2001:db8:1:2:bbbb::2"));
        let (a, b) = (keys("2001:db8:1:2::1"), keys("2001:db8:1:3::1"));
        assert_ne!(a[0], b[0], "another /64");
        assert_eq!(a[1], b[1], "the same /48");
        assert_eq!(a, ["2001:db8:1:2::/64", "2001:db8:1::/48"]);
        assert_ne!(keys("2001:db8:1::1")[1], keys("2001:db8:2::1")[1]);
    }

    #[test]
    fn a_48_gets_a_multiple_of_the_64_rule() {
        let buckets = client_buckets(Some("2001:db8:1:2::1"));
        assert_eq!(buckets[0].factor, 1);
        assert_eq!(buckets[1].factor, IPV6_48_FACTOR);
        const { assert!(IPV6_48_FACTOR > 1) };
        assert_eq!(
            RULE.scaled(IPV6_48_FACTOR),
            Rule {
                limit: 3 * IPV6_48_FACTOR,
                period_s: 6
            }
        );
    }

    #[test]
    fn ipv4_and_unparsable_clients_have_one_bucket() {
        assert_eq!(keys("203.0.113.7"), ["203.0.113.7"]);
        assert_eq!(keys("::ffff:203.0.113.7"), ["203.0.113.7"]);
        assert_eq!(keys("not an ip"), ["unknown"]);
        assert_eq!(
            client_buckets(None),
            [Bucket {
                key: "unknown".into(),
                factor: 1
            }]
        );
    }

    #[test]
    fn a_key_is_forgotten_a_period_after_its_state_stops_mattering() {
        let (_, tat) = run(3, 0, None);
        let tat = tat.unwrap();
        let at = forget_at_ms(tat, RULE);
        assert_eq!(at, tat + i64::from(RULE.period_s) * 1000);
        // From the arrival time on, the stored state and no state answer alike, request after
        // request: forgetting it then or later changes no decision.
        for now in [tat, at] {
            let (with_state, _) = run(4, now, Some(tat));
            let (fresh, _) = run(4, now, None);
            assert_eq!(with_state, fresh);
        }
        // Just before the arrival time, the stored state still matters.
        assert_ne!(check(Some(tat), tat - 1, RULE), check(None, tat - 1, RULE));
    }

    #[test]
    fn a_long_periods_key_is_kept_at_most_a_minute_past_its_arrival_time() {
        let day = Rule {
            limit: 5,
            period_s: 86_400,
        };
        assert_eq!(forget_at_ms(1_000, day), 1_000 + FORGET_GRACE_MAX_MS);
    }
}
