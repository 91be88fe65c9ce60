//! The same runs against server stores, started by `scripts/services/*.sh` (idempotent; `make
//! test` starts them first and stops them afterwards). A server that cannot start fails the
//! test with the script's output.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use crate::common::*;

/// Start a service once per test process; the error (script output) is kept for every caller.
fn service(name: &str) -> Result<(), String> {
    static UP: OnceLock<std::sync::Mutex<std::collections::HashMap<String, Result<(), String>>>> =
        OnceLock::new();
    let map = UP.get_or_init(Default::default);
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    map.entry(name.to_string())
        .or_insert_with(|| {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
            let script = dir.join(format!("scripts/services/{name}.sh"));
            let out = Command::new("bash")
                .arg(&script)
                .arg("up")
                .current_dir(dir)
                .output()
                .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{} up failed ({}):\n{}{}",
                    script.display(),
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ))
            }
        })
        .clone()
}

/// The Bolt graph server `scripts/services/arcadedb.sh` runs.
fn graph_url() -> String {
    service("arcadedb").unwrap_or_else(|e| panic!("{e}"));
    let port = std::env::var("INGEST_BOLT_PORT").unwrap_or_else(|_| "17687".into());
    let pw = std::env::var("INGEST_ARCADEDB_PASSWORD").unwrap_or_else(|_| "ingest-test-pw".into());
    format!("bolt://root:{pw}@127.0.0.1:{port}/graph")
}

/// Rows of a Cypher query's `column` on the test graph server.
fn cypher(url: &str, q: &str, column: &str) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (address, user, password, db) = ingest::store::neo4j::parse_graph_url(url).unwrap();
        let g =
            ingest::store::neo4j::Neo4jGraph::connect(&address, &user, &password, db.as_deref())
                .await
                .unwrap();
        g.rows(neo4rs::query(q), column).await.unwrap()
    })
}

#[test]
fn norms_and_decisions_with_a_bolt_graph_server() {
    let url = graph_url();
    // A test database: earlier runs' documents would be drift for this data dir.
    cypher(&url, "MATCH (n) DETACH DELETE n RETURN count(*) AS n", "n");
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let norms = list(
        tmp.path(),
        "n.txt",
        &[
            fixture_line("norm/it_normattiva_legge_56_2007.xml"),
            fixture_line("norm/it_normattiva_legge_gelli_bianco.xml"),
        ],
    );
    let decisions = list(
        tmp.path(),
        "d.txt",
        &[
            fixture_line("jurisprudence/cass_snciv2025530638S.pdf"),
            fixture_line("jurisprudence/cass_snciv2025530039O.txt"),
        ],
    );
    let flag = ["--graph-url", url.as_str()];
    for (t, l) in [("norm", &norms), ("jurisprudence", &decisions)] {
        let r = ingest_type(t, &data, l, &[], &flag);
        assert_eq!(r.code, 0, "{t}: {}", r.stderr);
    }
    let verify = |data: &Path| {
        run_args(&[
            "verify",
            "--data-dir",
            data.to_str().unwrap(),
            "--graph-url",
            &url,
        ])
    };
    let v = verify(&data);
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
    assert!(
        v.stdout.contains("verified 4 documents: stores agree"),
        "{}",
        v.stdout
    );

    // The graph is useful: from a decision's chunk, CITES reaches an article of the Gelli-Bianco
    // act or the civil code, and PART_OF its act.
    let decision = "it:cass:civ:2025;30638";
    let rows = cypher(
        &url,
        &format!(
            "MATCH (d:Document {{key: '{decision}'}})-[:HAS_CHUNK]->(c:Chunk)-[:CITES]->(a:Article)-[:PART_OF]->(n:Norm) \
             RETURN DISTINCT n.key AS norm"
        ),
        "norm",
    );
    assert!(
        rows.iter().any(|n| n.starts_with("urn:nir:stato:")),
        "cited acts: {rows:?}"
    );
    // Chunk order by NEXT, and each article chunk of L. 56/2007 is TEXT_OF its Article.
    let text_of = cypher(
        &url,
        "MATCH (c:Chunk)-[:TEXT_OF]->(a:Article {key: 'urn:nir:stato:legge:2007;56~art1'}) RETURN c.key AS chunk",
        "chunk",
    );
    assert_eq!(text_of.len(), 1, "{text_of:?}");

    // A re-run adds nothing; deleting a document leaves the others whole.
    let count = || {
        cypher(
            &url,
            &format!("MATCH (d:Document {{key: '{decision}'}})-[:HAS_CHUNK]->(c:Chunk) RETURN toString(count(c)) AS n"),
            "n",
        )
    };
    let before = count();
    assert!(
        before.len() == 1 && before[0].parse::<u32>().unwrap() > 10,
        "{before:?}"
    );
    let r = ingest_type("jurisprudence", &data, &decisions, &[], &flag);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(count(), before);
    let d = run_args(&[
        "delete",
        decision,
        "--data-dir",
        data.to_str().unwrap(),
        "--graph-url",
        &url,
    ]);
    assert_eq!(d.code, 0, "{}", d.stderr);
    assert_eq!(count(), vec!["0".to_string()]);
    let v = verify(&data);
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
    assert!(
        v.stdout.contains("verified 3 documents: stores agree"),
        "{}",
        v.stdout
    );
}
