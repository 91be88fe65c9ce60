//! The multilingual model's word-embedding table, read from disk a row at a time.
//!
//! Universal Sentence Encoder's graph starts by looking every token up in a 128k x 512 uint8
//! table (17 shards, token id mod 17, each dequantised with its own scale and zero point): 66 MB
//! that ONNX Runtime would hold whole, while a corpus in one language reads a small part of it
//! (the six Normattiva fixtures use under 12k distinct tokens). `make models` moves the lookup
//! out of the graph (`scripts/extract_use.py`): `embeddings.bin` holds the table with row `i`
//! for token id `i`, `embeddings.json` its dequantisation, and `model_body.onnx` starts from the
//! looked-up rows. [`EmbeddingTable`] reads a row from the file the first time a token appears
//! and keeps it (512 bytes), and dequantises exactly as the graph's `DequantizeLinear` does, so
//! the vectors are bit for bit those of the whole graph.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;

/// `embeddings.json`, written by `scripts/extract_use.py`.
#[derive(Debug, serde::Deserialize)]
struct Params {
    rows: u32,
    dim: usize,
    shards: u32,
    scale: Vec<f32>,
    zero_point: Vec<u8>,
}

/// Slot of a row not read yet.
const ABSENT: u32 = u32::MAX;

struct Rows {
    /// Per token id, where its row sits in `data` (or [`ABSENT`]).
    slot: Vec<u32>,
    /// The rows read so far, `dim` bytes each, in the order they were first met.
    data: Vec<u8>,
}

pub struct EmbeddingTable {
    file: File,
    params: Params,
    rows: Mutex<Rows>,
}

impl EmbeddingTable {
    /// Open `embeddings.bin` with the parameters in `embeddings.json`, checking that the two
    /// agree (a table from another extraction has another size).
    pub fn open(table: &Path, params: &Path) -> Result<Self, String> {
        let text =
            std::fs::read_to_string(params).map_err(|e| format!("{}: {e}", params.display()))?;
        let p: Params =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", params.display()))?;
        if p.dim == 0 || p.shards == 0 {
            return Err(format!("{}: zero dim or shards", params.display()));
        }
        if p.scale.len() != p.shards as usize || p.zero_point.len() != p.shards as usize {
            return Err(format!(
                "{}: {} shards but {} scales and {} zero points",
                params.display(),
                p.shards,
                p.scale.len(),
                p.zero_point.len()
            ));
        }
        let file = File::open(table).map_err(|e| format!("{}: {e}", table.display()))?;
        let len = file
            .metadata()
            .map_err(|e| format!("{}: {e}", table.display()))?
            .len();
        let expected = u64::from(p.rows) * p.dim as u64;
        if len != expected {
            return Err(format!(
                "{}: {len} bytes, expected {} rows of {} = {expected} (re-run `make models`)",
                table.display(),
                p.rows,
                p.dim
            ));
        }
        let rows = Rows {
            slot: vec![ABSENT; p.rows as usize],
            data: Vec::new(),
        };
        Ok(Self {
            file,
            params: p,
            rows: Mutex::new(rows),
        })
    }

    /// Width of a row.
    pub fn dim(&self) -> usize {
        self.params.dim
    }

    /// Rows read from the file so far (distinct tokens met).
    pub fn rows_held(&self) -> usize {
        let rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        rows.data.len() / self.params.dim
    }

    /// The dequantised rows of `ids`, one after another (`ids.len() * dim` floats).
    pub fn gather(&self, ids: &[u32]) -> Result<Vec<f32>, String> {
        let dim = self.params.dim;
        let mut rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        for &id in ids {
            let Some(&slot) = rows.slot.get(id as usize) else {
                return Err(format!(
                    "token id {id} is outside the embedding table ({} rows)",
                    self.params.rows
                ));
            };
            if slot == ABSENT {
                let at = rows.data.len();
                rows.data.resize(at + dim, 0);
                if let Err(e) = self
                    .file
                    .read_exact_at(&mut rows.data[at..], u64::from(id) * dim as u64)
                {
                    rows.data.truncate(at);
                    return Err(format!("reading embedding row {id}: {e}"));
                }
                rows.slot[id as usize] = (at / dim) as u32;
            }
        }
        let mut out = Vec::with_capacity(ids.len() * dim);
        for &id in ids {
            let at = rows.slot[id as usize] as usize * dim;
            let shard = (id % self.params.shards) as usize;
            let (scale, zero) = (
                self.params.scale[shard],
                i32::from(self.params.zero_point[shard]),
            );
            // ONNX DequantizeLinear: (float)(x - zero_point) * scale.
            out.extend(
                rows.data[at..at + dim]
                    .iter()
                    .map(|&b| (i32::from(b) - zero) as f32 * scale),
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: u32, dim: usize, shards: u32) -> (tempfile::TempDir, EmbeddingTable) {
        let dir = tempfile::tempdir().unwrap();
        let bytes: Vec<u8> = (0..rows as usize * dim).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.path().join("t.bin"), bytes).unwrap();
        let params = serde_json::json!({
            "rows": rows, "dim": dim, "shards": shards,
            "scale": (0..shards).map(|k| 0.5 + k as f32).collect::<Vec<_>>(),
            "zero_point": (0..shards).map(|k| 100 + k as u8).collect::<Vec<_>>(),
        });
        std::fs::write(dir.path().join("t.json"), params.to_string()).unwrap();
        let t =
            EmbeddingTable::open(&dir.path().join("t.bin"), &dir.path().join("t.json")).unwrap();
        (dir, t)
    }

    #[test]
    fn rows_are_read_once_and_dequantised_by_their_shard() {
        let (_dir, t) = table(10, 4, 3);
        let got = t.gather(&[7, 2, 7]).unwrap();
        let expect = |id: usize| -> Vec<f32> {
            let (scale, zero) = (0.5 + (id % 3) as f32, 100 + (id % 3) as i32);
            (0..4)
                .map(|j| (((id * 4 + j) % 251) as i32 - zero) as f32 * scale)
                .collect()
        };
        assert_eq!(got, [expect(7), expect(2), expect(7)].concat());
        assert_eq!(t.rows_held(), 2, "token 7 is read once");
        assert_eq!(t.gather(&[2]).unwrap(), expect(2));
        assert_eq!(t.rows_held(), 2);
    }

    #[test]
    fn ids_outside_the_table_and_mismatched_files_are_errors() {
        let (dir, t) = table(10, 4, 3);
        let err = t.gather(&[3, 10]).unwrap_err();
        assert!(
            err.contains("token id 10") && err.contains("10 rows"),
            "{err}"
        );
        std::fs::write(dir.path().join("t.bin"), [0u8; 39]).unwrap();
        let err = EmbeddingTable::open(&dir.path().join("t.bin"), &dir.path().join("t.json"))
            .err()
            .unwrap();
        assert!(
            err.contains("39 bytes") && err.contains("make models"),
            "{err}"
        );
    }
}
