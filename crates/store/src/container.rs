//! Containers of `cairn run`: an image's layers under a writable layer of their own, kept
//! after the command ends (unless `--rm`) for `cairn commit`, `cairn ps` and `cairn rm`.
//!
//! `containers/<id>/` holds the record (what the container runs on, how it ended) and the
//! overlay's `upper/` and `work/` directories. The layers a kept container stands on are in
//! use, as an image's are: prune never removes them.

use crate::Store;
use crate::atomic::{self, Replace};
use crate::digest::LayerId;
use crate::error::{Error, Result, io_at};
use crate::record::Kind;
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::PathBuf;

/// A kept container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// `--name`, else a generated one.
    pub name: String,
    /// The image as the user named it, and its ID (config digest).
    pub image: String,
    pub image_id: String,
    /// The image's layers, bottom to top.
    pub layers: Vec<LayerId>,
    /// The command it ran.
    pub command: Vec<String>,
    /// Unix seconds.
    pub created: i64,
    /// `None` while it runs (or when cairn died before it ended).
    pub exit_code: Option<i32>,
}

/// A container ID: 64 lowercase hex digits, as docker's.
pub fn is_container_id(id: &str) -> bool {
    id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn check_id(id: &str) -> Result<()> {
    if is_container_id(id) {
        Ok(())
    } else {
        Err(Error::Corrupt {
            path: PathBuf::from(id),
            reason: "not a container ID".into(),
        })
    }
}

impl Store {
    /// The container's directory (`upper/` and `work/` are its overlay's).
    pub fn container_dir(&self, id: &str) -> Result<PathBuf> {
        check_id(id)?;
        Ok(self.layout().containers.join(id))
    }

    /// Make the directories of a new container and save its record.
    pub fn container_create(&self, id: &str, rec: &ContainerRecord) -> Result<PathBuf> {
        let dir = self.container_dir(id)?;
        for d in [dir.join("upper"), dir.join("work")] {
            fs::create_dir_all(&d).map_err(io_at(&d))?;
        }
        self.container_put(id, rec)?;
        Ok(dir)
    }

    pub fn container_put(&self, id: &str, rec: &ContainerRecord) -> Result<()> {
        let path = self.container_dir(id)?.join("record");
        atomic::write_record(
            &self.layout().tmp,
            &path,
            Kind::Container,
            rec,
            Replace::Yes,
        )?;
        Ok(())
    }

    pub fn container_get(&self, id: &str) -> Result<Option<ContainerRecord>> {
        atomic::read_record(&self.container_dir(id)?.join("record"), Kind::Container)
    }

    /// Every container with a readable record, by ID (sorted).
    pub fn containers(&self) -> Result<Vec<(String, ContainerRecord)>> {
        let dir = &self.layout().containers;
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(dir, e)),
        };
        let mut out = Vec::new();
        for e in entries {
            let e = e.map_err(io_at(dir))?;
            let id = e.file_name().to_string_lossy().into_owned();
            if !is_container_id(&id) {
                continue;
            }
            if let Some(rec) = self.container_get(&id)? {
                out.push((id, rec));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The layers something still stands on: every image's and every kept container's. Prune
    /// never removes them; `du` counts them as image layers.
    pub fn layers_in_use(&self) -> Result<std::collections::HashSet<String>> {
        Ok(self
            .images()?
            .into_iter()
            .flat_map(|(_, named)| named.images)
            .flat_map(|r| r.layers)
            .chain(self.containers()?.into_iter().flat_map(|(_, c)| c.layers))
            .map(|l| l.to_string())
            .collect())
    }

    /// Remove a container and its writable layer.
    pub fn container_remove(&self, id: &str) -> Result<()> {
        let dir = self.container_dir(id)?;
        // Renamed out of the way first: a crash leaves garbage in tmp/, never half a container.
        let doomed = self.layout().tmp.dir().join(format!("container-{id}"));
        match fs::rename(&dir, &doomed) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(&dir, e)),
        }
        fs::remove_dir_all(&doomed).map_err(io_at(&doomed))
    }
}
