//! Counts the HTTP requests behind one client call (pagination pages, SDK retries), so the
//! rate limiter charges AWS's buckets for what was really sent, not for one call.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

tokio::task_local! {
    static REQUESTS: Arc<AtomicU32>;
}

/// Note one HTTP request sent by the current task; a no-op outside [`counting`].
pub fn count_request() {
    // Outside a counting scope nobody asked; the error only says so.
    let _ = REQUESTS.try_with(|n| n.fetch_add(1, Ordering::Relaxed));
}

/// Run `fut`, returning its output and the HTTP requests it sent (0 for clients that send
/// none, like the in-memory fake).
pub async fn counting<F: Future>(fut: F) -> (F::Output, u32) {
    let counter = Arc::new(AtomicU32::new(0));
    let out = REQUESTS.scope(counter.clone(), fut).await;
    (out, counter.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_are_counted_per_scope() {
        count_request();
        let ((), n) = counting(async {
            count_request();
            count_request();
        })
        .await;
        assert_eq!(n, 2);
        let ((), none) = counting(async {}).await;
        assert_eq!(none, 0);
    }
}
