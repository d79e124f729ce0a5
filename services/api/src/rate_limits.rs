//! Rate limits on the two endpoints anyone may hit repeatedly without a case to act on: the
//! referral form (per caller) and the anonymous feedback link (per link that exists, and the
//! links that do not, in total, so that guessing is slow while real answers never wait on a
//! flood of junk). Counted in memory per instance: a limit against floods and guessing, not an
//! accounting. Keyed limiters are keyed by what exists (a signed-in caller, a real link),
//! never by what a request makes up.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

use crate::error::ApiError;

type Keyed = RateLimiter<String, HashMapStateStore<String>, DefaultClock>;
type Global = RateLimiter<governor::state::NotKeyed, governor::state::InMemoryState, DefaultClock>;

/// Requests per minute allowed on each limited endpoint.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSettings {
    /// Referrals one caller may make per minute.
    pub referrals_per_minute: u32,
    /// Answers one feedback link may be sent per minute (it takes one; the rest are retries).
    pub feedback_per_link_per_minute: u32,
    /// Answers through links that do not exist, all together, per minute: slows anyone
    /// guessing links. Answers through real links are not counted.
    pub feedback_per_minute: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            referrals_per_minute: 10,
            feedback_per_link_per_minute: 5,
            feedback_per_minute: 120,
        }
    }
}

#[derive(Clone)]
pub struct RateLimits {
    referrals: Arc<Keyed>,
    feedback_per_link: Arc<Keyed>,
    feedback: Arc<Global>,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self::new(RateLimitSettings::default())
    }
}

impl RateLimits {
    pub fn new(settings: RateLimitSettings) -> Self {
        let quota = |per_minute: u32| {
            Quota::per_minute(NonZeroU32::new(per_minute.max(1)).expect("at least 1"))
        };
        RateLimits {
            referrals: Arc::new(RateLimiter::hashmap(quota(settings.referrals_per_minute))),
            feedback_per_link: Arc::new(RateLimiter::hashmap(quota(
                settings.feedback_per_link_per_minute,
            ))),
            feedback: Arc::new(RateLimiter::direct(quota(settings.feedback_per_minute))),
        }
    }

    pub(crate) fn referral(&self, caller: &str) -> Result<(), ApiError> {
        Self::keyed(&self.referrals, caller)
    }

    /// An answer through a link that exists: limited per link (it takes one answer; the rest
    /// are retries), whatever anyone else sends.
    pub(crate) fn feedback_link(&self, link: &str) -> Result<(), ApiError> {
        Self::keyed(&self.feedback_per_link, link)
    }

    /// An answer through a link that does not exist: limited for all such together.
    pub(crate) fn feedback_guess(&self) -> Result<(), ApiError> {
        self.feedback
            .check()
            .map_err(|not_until| too_many(not_until.wait_time_from(DefaultClock::default().now())))
    }

    fn keyed(limiter: &Keyed, key: &str) -> Result<(), ApiError> {
        // Keys are callers who signed in and links that exist, never what a request makes
        // up; those back to a full allowance are forgotten once there are many.
        if limiter.len() >= MAX_KEYS {
            limiter.retain_recent();
        }
        limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| too_many(not_until.wait_time_from(DefaultClock::default().now())))
    }
}

/// Beyond this many keys, those back to a full allowance are forgotten.
const MAX_KEYS: usize = 10_000;

fn too_many(wait: std::time::Duration) -> ApiError {
    ApiError::TooManyRequests {
        retry_after_seconds: wait.as_secs().max(1),
    }
}
