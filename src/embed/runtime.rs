//! ONNX Runtime is loaded at run time from the shared library that `make models` installs
//! (from the onnxruntime wheel). Loading it ourselves turns a missing or broken library into a
//! clear error instead of a panic deep inside the first session.

use std::path::{Path, PathBuf};

use std::sync::OnceLock;

use super::EmbedError;

/// File name of the library inside the models dir.
pub const ORT_LIBRARY: &str = "onnxruntime/libonnxruntime.so.1.32.0";

static INIT: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// The library path: `$ORT_DYLIB_PATH` when set, else the one under the models dir.
pub fn library_path(models_dir: &Path) -> PathBuf {
    std::env::var_os("ORT_DYLIB_PATH")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| models_dir.join(ORT_LIBRARY))
}

/// Load ONNX Runtime once per process and return its environment.
pub fn init(models_dir: &Path) -> Result<ort::environment::Environment, EmbedError> {
    let path = library_path(models_dir);
    let outcome = INIT.get_or_init(|| {
        if !path.is_file() {
            return Err(format!("{} does not exist", path.display()));
        }
        // Loading a foreign library can panic inside ort on symbol mismatches.
        let loaded = std::panic::catch_unwind(|| {
            ort::init_from(&path)
                .map_err(|e| e.to_string())?
                .with_name("ingest")
                // Microsoft's builds ship telemetry events that `ort` leaves on: off. (The
                // library still writes a session marker to TMPDIR and a device id under
                // ~/.cache/Microsoft when the environment is created; no API stops that.)
                .with_telemetry(false)
                .build()
                .map_err(|e| e.to_string())
        });
        match loaded {
            Ok(Ok(env)) => Ok(env),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("the library panicked while loading".to_string()),
        }
    });
    outcome.clone().map_err(|message| EmbedError::Runtime {
        path: path.display().to_string(),
        message,
    })
}
