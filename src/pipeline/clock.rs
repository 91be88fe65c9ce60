//! Busy time per stage: how long each stage spent working (not waiting for input), summed
//! over a run. Parse workers run side by side, so the parse figure can exceed wall time.
//! Each piece of work is also observed by the `ingest_stage_duration_seconds` histogram.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::record::Stage;

#[derive(Debug, Default)]
pub struct StageClock {
    nanos: [AtomicU64; 5],
    units: [AtomicU64; 5],
}

impl StageClock {
    /// Record one piece of work of `stage` (a document, or an embedding batch) on documents
    /// of `doc_type` (a type name, or `mixed`) that took `d`.
    pub fn add(&self, stage: Stage, doc_type: &str, d: Duration) {
        crate::metrics::global().stage_time(stage, doc_type, d);
        let i = stage as usize - 1;
        self.nanos[i].fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
        self.units[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Time `work` and record it under `stage` and `doc_type`.
    pub async fn time<F: std::future::Future>(
        &self,
        stage: Stage,
        doc_type: &str,
        work: F,
    ) -> F::Output {
        let t = Instant::now();
        let out = work.await;
        self.add(stage, doc_type, t.elapsed());
        out
    }

    pub fn snapshot(&self) -> StageBusy {
        let mut busy = StageBusy::default();
        for (i, stage) in Stage::ALL.into_iter().enumerate() {
            busy.0[i] = (
                stage,
                Duration::from_nanos(self.nanos[i].load(Ordering::Relaxed)),
                self.units[i].load(Ordering::Relaxed),
            );
        }
        busy
    }
}

/// A run's busy time per stage and how many pieces of work it counted.
#[derive(Debug, Clone, Copy)]
pub struct StageBusy(pub [(Stage, Duration, u64); 5]);

impl Default for StageBusy {
    fn default() -> Self {
        StageBusy(Stage::ALL.map(|s| (s, Duration::ZERO, 0)))
    }
}

impl StageBusy {
    pub fn get(&self, stage: Stage) -> Duration {
        self.0[stage as usize - 1].1
    }

    pub fn units(&self, stage: Stage) -> u64 {
        self.0[stage as usize - 1].2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_time_adds_up_per_stage() {
        let c = StageClock::default();
        c.add(Stage::Embed, "norm", Duration::from_millis(30));
        c.add(Stage::Embed, "norm", Duration::from_millis(12));
        c.add(Stage::Store, "doctrine", Duration::from_millis(5));
        let b = c.snapshot();
        assert_eq!(b.get(Stage::Embed), Duration::from_millis(42));
        assert_eq!(b.units(Stage::Embed), 2);
        assert_eq!(b.get(Stage::Store), Duration::from_millis(5));
        assert_eq!(b.get(Stage::Parse), Duration::ZERO);
        assert_eq!(b.units(Stage::Parse), 0);
    }
}
