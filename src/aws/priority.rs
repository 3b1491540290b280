//! Which class of work an AWS call serves, so the rate limiter can serve the user's own
//! changes before resync work when the account's API budget runs short.

use std::future::Future;

/// The class of work a call belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    /// Someone is waiting for it: a spec change not reconciled yet (creation, edit, rollout
    /// of an edit) or a deletion. May use the limiter's whole share.
    UserInitiated,
    /// Nobody is waiting: resyncs of converged objects, drift checks, bulk sweeps, retries
    /// of a generation that was already reconciled. Limited to the background share.
    Background,
}

impl Priority {
    /// The priority of a reconcile: deletions and generations not reconciled yet are
    /// user-initiated, everything else is background.
    pub fn of_reconcile(deleting: bool, generation_reconciled: bool) -> Self {
        if deleting || !generation_reconciled {
            Priority::UserInitiated
        } else {
            Priority::Background
        }
    }

    /// The priority of the calls made by the current task (background outside any scope).
    pub fn current() -> Self {
        PRIORITY.try_with(|p| *p).unwrap_or(Priority::Background)
    }

    /// Run `fut` with every AWS call it makes charged at this priority.
    pub async fn scope<F: Future>(self, fut: F) -> F::Output {
        PRIORITY.scope(self, fut).await
    }
}

tokio::task_local! {
    static PRIORITY: Priority;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletions_and_unreconciled_generations_come_first() {
        assert_eq!(Priority::of_reconcile(true, true), Priority::UserInitiated);
        assert_eq!(
            Priority::of_reconcile(false, false),
            Priority::UserInitiated
        );
        assert_eq!(Priority::of_reconcile(true, false), Priority::UserInitiated);
        assert_eq!(Priority::of_reconcile(false, true), Priority::Background);
    }

    #[tokio::test]
    async fn the_scope_sets_the_priority_of_calls_made_inside_it() {
        assert_eq!(Priority::current(), Priority::Background);
        let inside = Priority::UserInitiated
            .scope(async { Priority::current() })
            .await;
        assert_eq!(inside, Priority::UserInitiated);
        assert_eq!(Priority::current(), Priority::Background);
    }
}
