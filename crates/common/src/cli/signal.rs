//! Ctrl-C and SIGTERM, for the tools that wait: instance-refresh stops following (the refresh
//! goes on in AWS, or is cancelled) and verify-ami terminates what it launched; both exit 130.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether the process has had Ctrl-C or SIGTERM: a wait that starts after it (a step that
/// `deploy-tools deploy` starts while it winds down) ends at once instead of missing it.
static RECEIVED: AtomicBool = AtomicBool::new(false);

/// Resolves on Ctrl-C or SIGTERM, or at once if the process already had one. The handlers are
/// installed now, not when first polled, so a signal that arrives before the first wait is
/// not lost (and does not kill the process).
pub fn shutdown_signal() -> Pin<Box<dyn Future<Output = ()>>> {
    let wait: Pin<Box<dyn Future<Output = ()>>> = {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
                (Ok(mut term), Ok(mut int)) => Box::pin(async move {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }),
                _ => Box::pin(async {
                    let _ = tokio::signal::ctrl_c().await;
                }),
            }
        }
        #[cfg(not(unix))]
        {
            Box::pin(async {
                let _ = tokio::signal::ctrl_c().await;
            })
        }
    };
    Box::pin(async move {
        if !RECEIVED.load(Ordering::SeqCst) {
            wait.await;
            RECEIVED.store(true, Ordering::SeqCst);
        }
    })
}
