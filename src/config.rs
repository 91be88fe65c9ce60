//! Pipeline configuration (`pipelines/<type>.toml`): what runs, with which parameters.
//! Loading is I/O; validation is pure so it can be unit-tested.

use serde::Deserialize;
use std::path::Path;

use crate::pipeline::record::DocType;

/// The bundled default for norms, used when no `--pipeline` file is given.
pub const DEFAULT_NORM_PIPELINE: &str = include_str!("../pipelines/norm.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read pipeline file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid pipeline file {path}: {message}")]
    Invalid { path: String, message: String },
}

impl crate::pipeline::error::Classify for ConfigError {
    fn class(&self) -> crate::pipeline::error::ErrorClass {
        crate::pipeline::error::ErrorClass::Fatal
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    #[serde(rename = "type")]
    pub doc_type: String,
    #[serde(default)]
    pub parse: ParseConfig,
    #[serde(default)]
    pub chunk: ChunkConfig,
    #[serde(default)]
    pub embed: EmbedConfig,
    #[serde(default)]
    pub store: StoreConfig,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ParseConfig {
    pub max_bytes: u64,
    pub http_timeout_secs: u64,
    pub fetch_attempts: u32,
}

impl Default for ParseConfig {
    fn default() -> Self {
        Self {
            max_bytes: 100 * 1024 * 1024,
            http_timeout_secs: 120,
            fetch_attempts: 3,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ChunkConfig {
    pub strategy: String,
    pub max_tokens: usize,
    pub context_header: bool,
}

impl Default for ChunkConfig {
    fn default() -> Self {
        Self {
            strategy: "article".into(),
            max_tokens: 0,
            context_header: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EmbedConfig {
    pub model: String,
    pub batch_size: usize,
    pub batch_max_tokens: usize,
    pub batch_max_age_ms: u64,
}

impl Default for EmbedConfig {
    fn default() -> Self {
        Self {
            model: crate::embed::DEFAULT_MODEL.into(),
            batch_size: 32,
            batch_max_tokens: 1024,
            batch_max_age_ms: 100,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub relational: String,
    pub vector: String,
    pub graph: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            relational: "sqlite".into(),
            vector: "qdrant-edge".into(),
            graph: "sqlite".into(),
        }
    }
}

impl PipelineConfig {
    /// Parse and validate TOML text; `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let cfg: PipelineConfig = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: origin.to_string(),
            message: crate::pipeline::error::one_line(&e.to_string()),
        })?;
        cfg.validate().map_err(|message| ConfigError::Invalid {
            path: origin.to_string(),
            message,
        })?;
        Ok(cfg)
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// The bundled pipeline for a document type.
    pub fn bundled(doc_type: DocType) -> Result<Self, ConfigError> {
        match doc_type {
            DocType::Norm => Self::from_toml(DEFAULT_NORM_PIPELINE, "pipelines/norm.toml"),
            other => Err(ConfigError::Invalid {
                path: format!("pipelines/{other}.toml"),
                message: format!("no bundled pipeline for type {other}"),
            }),
        }
    }

    pub fn doc_type(&self) -> Result<DocType, String> {
        self.doc_type.parse()
    }

    /// Pure checks on values serde cannot express.
    pub fn validate(&self) -> Result<(), String> {
        self.doc_type()?;
        if self.chunk.strategy != "article" {
            return Err(format!(
                "chunk.strategy {:?} is not available (norms use \"article\")",
                self.chunk.strategy
            ));
        }
        if self.embed.batch_size == 0 || self.embed.batch_size > 4096 {
            return Err("embed.batch_size must be between 1 and 4096".into());
        }
        if self.embed.batch_max_tokens < 16 {
            return Err("embed.batch_max_tokens must be at least 16".into());
        }
        if self.parse.max_bytes == 0 {
            return Err("parse.max_bytes must be positive".into());
        }
        if self.parse.fetch_attempts == 0 {
            return Err("parse.fetch_attempts must be at least 1".into());
        }
        if self.chunk.max_tokens != 0 && self.chunk.max_tokens < 16 {
            return Err("chunk.max_tokens must be 0 (model limit) or at least 16".into());
        }
        crate::embed::model_spec(&self.embed.model).map_err(|e| e.to_string())?;
        if self.store.relational != "sqlite" {
            return Err(format!(
                "store.relational {:?} is not available yet (only the embedded \"sqlite\")",
                self.store.relational
            ));
        }
        if self.store.vector != "qdrant-edge" {
            return Err(format!(
                "store.vector {:?} is not available yet (only the embedded \"qdrant-edge\")",
                self.store.vector
            ));
        }
        if self.store.graph != "sqlite" {
            return Err(format!(
                "store.graph {:?} is not available yet (only the embedded \"sqlite\")",
                self.store.graph
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_norm_pipeline_is_valid() {
        let cfg = PipelineConfig::bundled(DocType::Norm).unwrap();
        assert_eq!(cfg.doc_type().unwrap(), DocType::Norm);
        assert_eq!(cfg.embed.model, "use-multilingual-v3-int8");
        assert_eq!(cfg.parse.max_bytes, 104_857_600);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = PipelineConfig::from_toml("type = \"norm\"\n[embed]\nbatchsize = 3\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.toml"), "{err}");
        assert!(err.contains("batchsize"), "{err}");
    }

    #[test]
    fn bad_values_are_refused() {
        let err = PipelineConfig::from_toml("type = \"norm\"\n[embed]\nbatch_size = 0\n", "y.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("batch_size"), "{err}");
        let err =
            PipelineConfig::from_toml("type = \"norm\"\n[embed]\nmodel = \"nope\"\n", "z.toml")
                .unwrap_err()
                .to_string();
        assert!(err.contains("nope"), "{err}");
    }
}
