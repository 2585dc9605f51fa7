//! Mapping between the IR's image model (`cairn_ir::ImageConfig`, what the frontend edits)
//! and the JSON config documents (what registries and `docker load` read).

use crate::model::{ContainerConfig, Empty, Healthcheck, HistoryEntry, ImageConfigFile};
use cairn_ir::image::{HealthConfig, History};
use cairn_ir::{ImageConfig, Platform};

/// `80` means `80/tcp`, as Docker normalizes EXPOSE.
fn port_key(p: &str) -> String {
    if p.contains('/') {
        p.to_string()
    } else {
        format!("{p}/tcp")
    }
}

/// The JSON config for `cfg` on `platform`: `created` (RFC 3339) is the image's, each history
/// entry keeps its own; `diff_ids` fill `rootfs`.
pub fn to_config_file(
    cfg: &ImageConfig,
    platform: &Platform,
    created: Option<String>,
    diff_ids: Vec<String>,
) -> ImageConfigFile {
    ImageConfigFile {
        created,
        author: cfg.author.clone(),
        architecture: platform.architecture.clone(),
        variant: platform.variant.clone(),
        os: platform.os.clone(),
        config: ContainerConfig {
            user: cfg.user.clone().unwrap_or_default(),
            exposed_ports: cfg
                .exposed_ports
                .iter()
                .map(|p| (port_key(p), Empty {}))
                .collect(),
            env: cfg.env.clone(),
            entrypoint: cfg.entrypoint.clone(),
            cmd: cfg.cmd.clone(),
            volumes: cfg.volumes.iter().map(|v| (v.clone(), Empty {})).collect(),
            working_dir: cfg.working_dir.clone().unwrap_or_default(),
            labels: cfg.labels.clone(),
            stop_signal: cfg.stop_signal.clone().unwrap_or_default(),
            args_escaped: cfg.args_escaped,
            healthcheck: cfg.healthcheck.as_ref().map(|h| Healthcheck {
                test: h.test.clone(),
                interval: h.interval,
                timeout: h.timeout,
                start_period: h.start_period,
                start_interval: h.start_interval,
                retries: h.retries,
            }),
            on_build: cfg.on_build.clone(),
            shell: cfg.shell.clone(),
        },
        rootfs: crate::model::RootFs {
            kind: "layers".into(),
            diff_ids,
        },
        history: cfg
            .history
            .iter()
            .map(|h| HistoryEntry {
                created: h.created.clone(),
                created_by: Some(h.created_by.clone()).filter(|s| !s.is_empty()),
                author: None,
                comment: h.comment.clone(),
                empty_layer: h.empty_layer,
            })
            .collect(),
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// The IR view of a JSON config.
pub fn from_config_file(f: &ImageConfigFile) -> (ImageConfig, Platform) {
    let c = &f.config;
    let cfg = ImageConfig {
        user: non_empty(&c.user),
        exposed_ports: c.exposed_ports.keys().cloned().collect(),
        env: c.env.clone(),
        entrypoint: c.entrypoint.clone(),
        cmd: c.cmd.clone(),
        volumes: c.volumes.keys().cloned().collect(),
        working_dir: non_empty(&c.working_dir),
        labels: c.labels.clone(),
        stop_signal: non_empty(&c.stop_signal),
        healthcheck: c.healthcheck.as_ref().map(|h| HealthConfig {
            test: h.test.clone(),
            interval: h.interval,
            timeout: h.timeout,
            start_period: h.start_period,
            start_interval: h.start_interval,
            retries: h.retries,
        }),
        shell: c.shell.clone(),
        on_build: c.on_build.clone(),
        author: f.author.clone(),
        args_escaped: c.args_escaped,
        history: f
            .history
            .iter()
            .map(|h| History {
                created: h.created.clone(),
                created_by: h.created_by.clone().unwrap_or_default(),
                comment: h.comment.clone(),
                empty_layer: h.empty_layer,
            })
            .collect(),
    };
    let platform = Platform {
        os: f.os.clone(),
        architecture: f.architecture.clone(),
        variant: f.variant.clone(),
    };
    (cfg, platform)
}
