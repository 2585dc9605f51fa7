//! The frontends' [`ImageResolver`] backed by the local store, and by a registry for images the
//! store does not have (or, with `--pull`, for every tag, once per build). Base-image configs
//! (ENV, WORKDIR, ONBUILD, history) come from the stored image.

use cairn_ir::resolve::{ImageResolver, ResolveError, ResolvedImage};
use cairn_ir::{Platform, Reference};
use cairn_registry::Registry;
use cairn_store::Store;
use std::cell::RefCell;
use std::collections::HashSet;

use crate::events::{EventSink, NoEvents, Task};
use crate::metered::metered;

pub struct StoreResolver<'a> {
    pub store: &'a Store,
    /// Where to pull images the store lacks; `None` = local images only.
    pub registry: Option<(&'a Registry, &'a tokio::runtime::Runtime)>,
    /// `--pull`: re-resolve tags from the registry even when the store has them.
    pub always_pull: bool,
    pulled: RefCell<HashSet<String>>,
    /// Where `[internal] load metadata for …` and pull tasks are reported, once per image.
    events: Option<&'a dyn EventSink>,
    announced: RefCell<HashSet<String>>,
    /// The build asks for several platforms.
    multi_platform: bool,
}

impl<'a> StoreResolver<'a> {
    pub fn new(store: &'a Store) -> Self {
        StoreResolver {
            store,
            registry: None,
            always_pull: false,
            pulled: RefCell::default(),
            events: None,
            announced: RefCell::default(),
            multi_platform: false,
        }
    }

    /// Name each lookup's platform (a multi-platform build's).
    pub fn for_several_platforms(mut self, multi: bool) -> Self {
        self.multi_platform = multi;
        self
    }

    /// Report each image's resolution (and pull) as a task to `events`.
    pub fn reporting_to(mut self, events: &'a dyn EventSink) -> Self {
        self.events = Some(events);
        self
    }

    pub fn with_registry(
        mut self,
        registry: &'a Registry,
        runtime: &'a tokio::runtime::Runtime,
        always_pull: bool,
    ) -> Self {
        self.registry = Some((registry, runtime));
        self.always_pull = always_pull;
        self
    }

    fn pull(&self, reference: &str, platform: &Platform) -> Result<(), ResolveError> {
        let Some((registry, runtime)) = self.registry else {
            return Err(format!(
                "image {reference} is not in the store (add it with `cairn pull`, `cairn load` or `cairn import`)"
            )
            .into());
        };
        let parsed = Reference::parse(reference).map_err(|e| ResolveError(e.to_string()))?;
        let sink = self.events.unwrap_or(&NoEvents);
        let task = Task::start(sink, format!("[internal] pull {parsed}"));
        let pulled = runtime.block_on(metered(&task, |meter| async move {
            registry
                .pull_observed(self.store, &parsed, platform, meter.as_ref())
                .await
        }));
        match pulled {
            Ok(p) => {
                task.note(format!(
                    "{} layers, {} downloaded",
                    p.record.layers.len(),
                    crate::units::human_size(p.downloaded_bytes)
                ));
                task.finish();
            }
            Err(e) => {
                let e = ResolveError(format!("cannot pull {reference}: {e}"));
                task.fail(e.0.clone());
                return Err(e);
            }
        }
        Ok(())
    }
}

impl ImageResolver for StoreResolver<'_> {
    fn resolve(
        &self,
        reference: &str,
        platform: &Platform,
    ) -> Result<Option<ResolvedImage>, ResolveError> {
        let first = self
            .announced
            .borrow_mut()
            .insert(format!("{reference} {platform}"));
        // A multi-platform build says which platform's image it looks up, as BuildKit does.
        let prefix = if self.multi_platform {
            format!("{platform} internal")
        } else {
            "internal".into()
        };
        match self.events {
            Some(sink) if first => crate::events::task(
                sink,
                format!("[{prefix}] load metadata for {reference}"),
                |_| self.resolve_now(reference, platform),
            ),
            _ => self.resolve_now(reference, platform),
        }
    }
}

impl StoreResolver<'_> {
    fn resolve_now(
        &self,
        reference: &str,
        platform: &Platform,
    ) -> Result<Option<ResolvedImage>, ResolveError> {
        let pinned = reference.contains('@');
        let lookup = || -> Result<_, ResolveError> {
            let Some(named) = self
                .store
                .image_resolve(reference)
                .map_err(|e| ResolveError(e.to_string()))?
            else {
                return Ok(None);
            };
            let rec = cairn_oci::image_for_platform(self.store, &named, platform)
                .map_err(|e| ResolveError(e.to_string()))?;
            Ok(Some((named, rec)))
        };
        let have = lookup()?;
        let key = format!("{reference} {platform}");
        let need_pull = match &have {
            None | Some((_, None)) => true,
            Some(_) => self.always_pull && !pinned && !self.pulled.borrow().contains(&key),
        };
        // What the name holds already, for messages when it has only other platforms.
        let held = |named: &cairn_store::NamedImage| {
            cairn_oci::platforms_shown(self.store, named).map_err(|e| ResolveError(e.to_string()))
        };
        let rec = if need_pull && self.registry.is_some() {
            if let Err(e) = self.pull(reference, platform) {
                return Err(match &have {
                    Some((named, None)) => ResolveError(format!(
                        "{reference} in the store is for {}, but the stage is built for \
                         {platform}, and {}",
                        held(named)?,
                        e.0
                    )),
                    _ => e,
                });
            }
            self.pulled.borrow_mut().insert(key);
            lookup()?.and_then(|(_, rec)| rec).ok_or_else(|| {
                ResolveError(format!(
                    "{reference} was pulled for {platform} but is not in the store"
                ))
            })?
        } else {
            match have {
                Some((_, Some(rec))) => rec,
                // Building on an image of another platform would run its steps for the wrong
                // machine and label the result with a platform it is not.
                Some((named, None)) => {
                    return Err(ResolveError(format!(
                        "{reference} in the store is for {}, but the stage is built for \
                         {platform} (pull it for {platform}: cairn pull --platform {platform} \
                         {reference}; or import one with cairn import --platform {platform})",
                        held(&named)?
                    )));
                }
                // No registry to ask: the solver reports the missing image.
                None => return Ok(None),
            }
        };
        let (config, _) =
            cairn_oci::image_config(self.store, &rec).map_err(|e| ResolveError(e.to_string()))?;
        // The manifest digest travels in the source op (BuildKit's `llb.ResolveDigest`): keys,
        // the solver and exports all mean exactly this image, whatever the tag does later.
        let name = reference.split('@').next().unwrap_or(reference);
        Ok(Some(ResolvedImage {
            pinned: Some(format!("{name}@{}", rec.manifest)),
            config,
        }))
    }
}
