//! Progress bars, one per stage. The only module that touches indicatif; hidden when stderr
//! is not a terminal, with `--no-progress` or with `--log-format json` (where the lines it
//! prints are log events instead).

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::record::Stage;

#[derive(Clone)]
pub struct Progress {
    multi: MultiProgress,
    bars: Vec<ProgressBar>,
    chunks: ProgressBar,
}

impl Progress {
    pub fn new(enabled: bool) -> Self {
        let enabled = enabled && std::io::stderr().is_terminal() && !crate::logging::json();
        let multi = if enabled {
            MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4))
        } else {
            MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
        };
        let style = ProgressStyle::with_template("{prefix:>7} [{bar:30}] {pos}/{len} docs {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bars = Stage::ALL
            .iter()
            .map(|s| {
                let b = multi.add(ProgressBar::new(0));
                b.set_style(style.clone());
                b.set_prefix(s.as_str());
                b
            })
            .collect();
        let chunks = multi.add(ProgressBar::new_spinner());
        chunks.set_style(
            ProgressStyle::with_template("{prefix:>7} {pos} chunks embedded ({per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        chunks.set_prefix("chunks");
        Self {
            multi,
            bars,
            chunks,
        }
    }

    pub fn set_total(&self, docs: u64) {
        for b in &self.bars {
            b.set_length(docs);
        }
    }

    /// Jobs resumed past a stage count as done for that stage's bar.
    pub fn skip_through(&self, stage_done: i64) {
        for s in Stage::ALL.iter().filter(|s| s.index() <= stage_done) {
            self.bars[s.index() as usize - 1].inc(1);
        }
    }

    pub fn stage_done(&self, stage: Stage) {
        self.bars[stage.index() as usize - 1].inc(1);
    }

    pub fn chunks_embedded(&self, n: u64) {
        self.chunks.inc(n);
    }

    /// Print a line above the bars (or plainly when hidden; a warn event in JSON log mode).
    pub fn println(&self, line: &str) {
        if crate::logging::json() {
            tracing::warn!(target: crate::logging::REPORT_TARGET, "{line}");
        } else if self.multi.is_hidden() {
            eprintln!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }

    pub fn finish(&self) {
        for b in &self.bars {
            b.finish_and_clear();
        }
        self.chunks.finish_and_clear();
    }
}
