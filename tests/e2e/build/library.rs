//! The build library driven directly, as an embedding program or a second frontend does it: a
//! frontend of the test's own (a graph made by hand, no Dockerfile) goes through
//! `cairn_build::Engine`, with the real store, the real sandbox and the library's events.

use super::fixture::{Env, out_dir};
use cairn_build::{
    BuildError, BuildEvent, BuildOptions, BuildRequest, Engine, EventSink, Frontend,
    FrontendOutput, Output,
};
use cairn_ir::resolve::ImageResolver;
use cairn_ir::{
    ExecOp, GraphBuilder, Input, Mount, MountKind, NetworkMode, Op, Platform, SourceOp, VertexMeta,
};
use std::sync::{Arc, Mutex};

/// One RUN step on busybox, described by the test: `sh -c SCRIPT`.
struct OneStep {
    script: String,
}

impl Frontend for OneStep {
    fn lower(&self, host: &cairn_build::FrontendHost<'_>) -> cairn_build::Result<FrontendOutput> {
        let resolver: &dyn ImageResolver = host;
        let platform = Platform::host();
        let frontend_err = |e: Box<dyn std::error::Error + Send + Sync>| BuildError::Frontend(e);
        let base = resolver
            .resolve("docker.io/library/busybox:latest", &platform)
            .map_err(|e| frontend_err(Box::new(e)))?
            .ok_or_else(|| BuildError::msg("busybox is not in the store"))?;
        let meta = |d: &str| VertexMeta {
            description: d.into(),
            file: Some("test-frontend".into()),
            lines: Some((1, 1)),
            ..VertexMeta::default()
        };
        let mut g = GraphBuilder::new();
        let from = g
            .add(
                Op::Source(SourceOp::Image {
                    reference: base.pinned.clone().unwrap_or_default(),
                    platform: platform.clone(),
                }),
                vec![],
                meta("[1/2] FROM busybox"),
            )
            .map_err(|e| frontend_err(Box::new(e)))?;
        let run = g
            .add(
                Op::Exec(ExecOp {
                    args: vec!["/bin/sh".into(), "-c".into(), self.script.clone()],
                    env: vec!["PATH=/bin:/usr/bin".into()],
                    cwd: "/".into(),
                    user: String::new(),
                    hostname: None,
                    network: NetworkMode::None,
                    security: Default::default(),
                    mounts: vec![Mount {
                        target: "/".into(),
                        input: Some(0),
                        selector: String::new(),
                        readonly: false,
                        kind: MountKind::Rootfs,
                    }],
                    proxy_env: vec![],
                    host_config: Default::default(),
                    platform: None,
                }),
                vec![Input::of(from)],
                meta("[2/2] RUN the test's step"),
            )
            .map_err(|e| frontend_err(Box::new(e)))?;
        Ok(FrontendOutput {
            graph: g.finish(Some(Input::of(run)), platform, base.config),
            source_date_epoch: None,
            warnings: vec!["a note from the test frontend".into()],
        })
    }
}

/// Keeps every event.
#[derive(Default)]
struct Recorder(Mutex<Vec<BuildEvent>>);

impl EventSink for Recorder {
    fn emit(&self, event: BuildEvent) {
        self.0.lock().expect("events").push(event);
    }
}

fn engine(env: &Env) -> Engine {
    let store = cairn_store::Store::open(env.root()).expect("store");
    let timeouts = cairn_registry::Timeouts::within(std::time::Duration::from_secs(10));
    let registry = cairn_registry::Registry::new(cairn_registry::RegistryOptions {
        timeouts,
        ..Default::default()
    })
    .expect("registry client");
    let helper = (
        std::path::PathBuf::from(env!("CARGO_BIN_EXE_cairn")),
        vec!["__sandbox".into()],
    );
    Engine::new(store, registry, timeouts, Some(2), helper).expect("engine")
}

#[test]
fn a_frontend_of_its_own_builds_through_the_library() {
    let env = Env::new();
    let engine = engine(&env);
    let (_keep, dest) = out_dir();
    let frontend = OneStep {
        script: "echo built-by-the-library > /made".into(),
    };
    let request = BuildRequest {
        frontend: &frontend,
        locals: Default::default(),
        options: BuildOptions {
            tags: vec!["docker.io/library/from-library:latest".into()],
            outputs: vec![Output::Local {
                dest: dest.clone(),
                devices: false,
            }],
            ..Default::default()
        },
    };
    let events = Arc::new(Recorder::default());
    let built = engine
        .build(&request, events.clone())
        .expect("the build succeeds");
    assert_eq!((built.executed, built.cached), (1, 0));
    let made = std::fs::read_to_string(dest.join("made")).expect("the output has the file");
    assert_eq!(made, "built-by-the-library\n");
    let image = built.image.expect("a tagged build makes an image");
    let stored = engine
        .store()
        .image_get("docker.io/library/from-library:latest")
        .expect("store")
        .expect("the tag is in the store")
        .only()
        .cloned()
        .expect("one image");
    assert_eq!(stored.config.to_string(), image.config);
    let seen = events.0.lock().expect("events").clone();
    assert!(
        seen.iter()
            .any(|e| matches!(e, BuildEvent::Warning(w) if w.contains("test frontend"))),
        "the frontend's warning is an event: {seen:?}"
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, BuildEvent::Step(s) if s.name.contains("RUN the test's step"))),
        "the step's events reach the sink: {seen:?}"
    );
    assert!(seen.iter().any(|e| matches!(
        e,
        BuildEvent::Summary {
            executed: 1,
            cached: 0
        }
    )));

    // The same request again: from the cache, same image.
    let again = engine
        .build(&request, Arc::new(Recorder::default()))
        .expect("the rebuild succeeds");
    assert_eq!(again.executed, 0);
    assert_eq!(again.image.map(|i| i.config), Some(image.config));
}

#[test]
fn a_failed_step_comes_back_typed_with_its_source() {
    let env = Env::new();
    let engine = engine(&env);
    let frontend = OneStep {
        script: "echo about to fail; exit 3".into(),
    };
    let request = BuildRequest {
        frontend: &frontend,
        locals: Default::default(),
        options: BuildOptions::default(),
    };
    let err = engine
        .build(&request, Arc::new(Recorder::default()))
        .expect_err("the step fails");
    let BuildError::Step(step) = err else {
        panic!("not a step failure: {err}");
    };
    assert!(step.vertex.contains("RUN the test's step"), "{step:?}");
    assert!(step.message.contains('3'), "the exit code: {step:?}");
    assert_eq!(step.file.as_deref(), Some("test-frontend"));
    assert_eq!(step.lines, Some((1, 1)));
    assert!(
        step.last_lines.iter().any(|l| l.contains("about to fail")),
        "{step:?}"
    );
}
