//! Requests and reads run as tasks of their own, so that parsing one reply (CPU work) does not
//! hold up another on the other core; a task whose result is no longer wanted is cancelled.

use std::future::Future;

use tokio_util::task::AbortOnDropHandle;

use dwlink_core::link::error::{Api, ProviderError};

pub(crate) struct Task<T>(AbortOnDropHandle<Result<T, ProviderError>>);

impl<T: Send + 'static> Task<T> {
    pub(crate) fn spawn(
        work: impl Future<Output = Result<T, ProviderError>> + Send + 'static,
    ) -> Self {
        Task(AbortOnDropHandle::new(tokio::spawn(work)))
    }

    /// The task's result; a panic in it is a panic here. `url` names the work if the runtime
    /// shut down under it.
    pub(crate) async fn join(
        self,
        api: Api,
        url: impl FnOnce() -> String,
    ) -> Result<T, ProviderError> {
        match self.0.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(ProviderError::Transport {
                api,
                url: url(),
                detail: format!("the request was cancelled: {e}"),
            }),
        }
    }
}
