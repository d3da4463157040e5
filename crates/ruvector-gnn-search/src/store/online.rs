//! Online training: every `every` new feedback events a training round runs
//! on a background thread (in the caller's thread on targets without
//! threads) and publishes its model atomically if it did not lose.

use super::{OnlineConfig, VectorDB};
use crate::error::{Error, Result};
use crate::gnn_embedder::FitReport;

/// Background-training state of a store.
#[derive(Debug, Default)]
pub(crate) struct OnlineState {
    pub config: Option<OnlineConfig>,
    /// Events recorded since the last round started.
    pub pending: usize,
    /// The running (or finished, not yet joined) round.
    #[cfg(not(target_arch = "wasm32"))]
    pub handle: Option<std::thread::JoinHandle<Result<FitReport>>>,
    /// Outcome of the last finished round.
    pub last: Option<std::result::Result<FitReport, String>>,
    /// Rounds finished.
    pub rounds: usize,
}

impl VectorDB {
    /// Turns online training on (`Some`) or off (`None`). A running round
    /// finishes either way.
    ///
    /// # Errors
    /// [`Error::Invalid`] for `every == 0`.
    pub fn set_online_training(&self, config: Option<OnlineConfig>) -> Result<()> {
        if config.as_ref().is_some_and(|c| c.every == 0) {
            return Err(Error::Invalid("online training needs every ≥ 1".into()));
        }
        let mut st = self.online();
        st.config = config;
        st.pending = 0;
        Ok(())
    }

    /// Called after each recorded event: starts a round when due and none
    /// is running.
    pub(super) fn on_new_feedback(&self) {
        let mut st = self.online();
        let Some(cfg) = st.config.clone() else {
            return;
        };
        st.pending += 1;
        if st.pending < cfg.every {
            return;
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            if st.handle.as_ref().is_some_and(|h| !h.is_finished()) {
                return; // one round at a time; pending keeps counting
            }
            if let Some(h) = st.handle.take() {
                let outcome = join(h);
                st.last = Some(outcome);
                st.rounds += 1;
            }
            st.pending = 0;
            let db = self.clone();
            st.handle = Some(std::thread::spawn(move || db.train_and_publish(&cfg.train)));
        }
        #[cfg(target_arch = "wasm32")]
        {
            st.pending = 0;
            drop(st);
            let outcome = self
                .train_and_publish(&cfg.train)
                .map_err(|e| e.to_string());
            let mut st = self.online();
            st.last = Some(outcome);
            st.rounds += 1;
        }
    }

    /// Waits for the running background round, if any, and returns the
    /// outcome of the last finished round (`None` if none ran).
    ///
    /// # Errors
    /// The round's training or publishing error, as its message
    /// ([`Error::Invalid`]).
    pub fn wait_for_training(&self) -> Result<Option<FitReport>> {
        #[cfg_attr(target_arch = "wasm32", allow(unused_mut))] // no threads: nothing to join
        let mut st = self.online();
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(h) = st.handle.take() {
            let outcome = join(h);
            st.last = Some(outcome);
            st.rounds += 1;
        }
        match &st.last {
            None => Ok(None),
            Some(Ok(r)) => Ok(Some(r.clone())),
            Some(Err(e)) => Err(Error::Invalid(format!("background training failed: {e}"))),
        }
    }

    /// Whether a background round is running right now.
    pub fn is_training(&self) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        {
            self.online()
                .handle
                .as_ref()
                .is_some_and(|h| !h.is_finished())
        }
        #[cfg(target_arch = "wasm32")]
        {
            false
        }
    }

    /// Background rounds finished so far (joined).
    pub fn training_rounds(&self) -> usize {
        self.online().rounds
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn join(h: std::thread::JoinHandle<Result<FitReport>>) -> std::result::Result<FitReport, String> {
    match h.join() {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the training thread panicked".into()),
    }
}
