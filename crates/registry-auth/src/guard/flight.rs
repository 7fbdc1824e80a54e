//! Logins with the same user name and password at the same moment share
//! one password check.
//!
//! A client pulling several images at once sends several token requests
//! with the same credentials; each would otherwise cost a hash check and,
//! with the throttle's reservations, count against the limit of checks in
//! flight. The first request checks (it leads); the others wait for its
//! outcome, and a wrong password shared so is one failure, not one per
//! request (a client with a stale password pulling six images is one
//! guess). Pairs are named by [`CredentialKey`], so the table holds no
//! password.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

use super::cache::CredentialKey;
use crate::bounded::lock;
use crate::protocol::error::Error;
use crate::protocol::identity::Identity;

/// How a shared check ended.
#[derive(Clone, Debug)]
pub(crate) enum Outcome {
    Valid(Identity),
    /// A wrong password: counted once, by the leader.
    Invalid,
    /// The authenticator failed (the leader logged why).
    Unavailable,
    /// The throttle refused the check before it ran (429): the same
    /// answer for every request that shares it.
    Refused(Error),
}

/// The checks running now, by credential pair.
#[derive(Debug)]
pub(crate) struct Flights {
    key: CredentialKey,
    running: Mutex<HashMap<[u8; 32], watch::Receiver<Option<Outcome>>>>,
}

/// What a request does: check (and tell the others), or wait.
pub(crate) enum Join<'a> {
    Lead(Lead<'a>),
    Follow(watch::Receiver<Option<Outcome>>),
}

/// The request that checks a pair for everyone asking at the same time.
/// Dropped without [`finish`](Lead::finish) (a timeout, a refusal before
/// the check), its followers are told nothing and try again themselves.
pub(crate) struct Lead<'a> {
    flights: &'a Flights,
    key: [u8; 32],
    outcome: watch::Sender<Option<Outcome>>,
}

impl Flights {
    /// `None` when the system has no random numbers.
    pub(crate) fn new() -> Option<Self> {
        Some(Flights {
            key: CredentialKey::new()?,
            running: Mutex::new(HashMap::new()),
        })
    }

    /// Leads the check of `user` with `password`, or follows the one
    /// already running.
    pub(crate) fn join(&self, user: &str, password: &str) -> Join<'_> {
        let key = self.key.of(user, password);
        let mut running = lock(&self.running);
        if let Some(outcome) = running.get(&key) {
            return Join::Follow(outcome.clone());
        }
        let (outcome, receiver) = watch::channel(None);
        running.insert(key, receiver);
        Join::Lead(Lead {
            flights: self,
            key,
            outcome,
        })
    }
}

impl Lead<'_> {
    /// Tells the followers how the check ended.
    pub(crate) fn finish(self, outcome: Outcome) {
        // Followers that went away meanwhile need no answer.
        let _ = self.outcome.send(Some(outcome));
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        lock(&self.flights.running).remove(&self.key);
    }
}

/// The outcome of the check being followed; `None` when its leader went
/// away without one.
pub(crate) async fn outcome(mut follow: watch::Receiver<Option<Outcome>>) -> Option<Outcome> {
    follow
        .wait_for(Option::is_some)
        .await
        .ok()
        .and_then(|outcome| outcome.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_same_pair_follows_and_another_leads() {
        let Some(flights) = Flights::new() else {
            panic!("no random numbers")
        };
        let Join::Lead(lead) = flights.join("alice", "pw") else {
            panic!("the first request leads")
        };
        let Join::Follow(same) = flights.join("alice", "pw") else {
            panic!("the same pair follows")
        };
        assert!(matches!(flights.join("alice", "other"), Join::Lead(_)));
        lead.finish(Outcome::Valid(Identity::new("alice")));
        assert!(matches!(outcome(same).await, Some(Outcome::Valid(_))));
        // Finished: the next request leads again.
        assert!(matches!(flights.join("alice", "pw"), Join::Lead(_)));
    }

    #[tokio::test]
    async fn a_leader_that_goes_away_tells_its_followers_nothing() {
        let Some(flights) = Flights::new() else {
            panic!("no random numbers")
        };
        let lead = flights.join("bob", "pw");
        let Join::Follow(follow) = flights.join("bob", "pw") else {
            panic!("follows")
        };
        drop(lead);
        assert!(outcome(follow).await.is_none());
    }
}
