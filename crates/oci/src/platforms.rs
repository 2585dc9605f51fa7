//! Which of a name's images serves a platform, and how a name gains one.
//!
//! The store keeps a name's images without knowing their platforms ([`NamedImage`]): a
//! platform is what the image's config says, so it is read from there, here, where configs
//! are understood — never recorded twice where the two could disagree.

use crate::Result;
use crate::assemble::image_config;
use cairn_ir::Platform;
use cairn_store::{ImageRecord, NamedImage, OciDigest, Store};

/// The platform of a stored image (its config's).
pub fn image_platform(store: &Store, rec: &ImageRecord) -> Result<Platform> {
    Ok(image_config(store, rec)?.1)
}

/// The image of `named` for `want`: the one of exactly that platform, else the first that
/// serves it (an image naming no variant serves any; `want` naming none is served by any).
/// Platforms are compared normalized (`arm64/v8` is `arm64`).
pub fn image_for_platform(
    store: &Store,
    named: &NamedImage,
    want: &Platform,
) -> Result<Option<ImageRecord>> {
    let want = want.normalized();
    let mut serving = None;
    for rec in &named.images {
        let have = image_platform(store, rec)?.normalized();
        if have == want {
            return Ok(Some(rec.clone()));
        }
        if serving.is_none() && have.serves(&want) {
            serving = Some(rec.clone());
        }
    }
    Ok(serving)
}

/// The platforms of a name's images, in its order.
pub fn platforms_of(store: &Store, named: &NamedImage) -> Result<Vec<Platform>> {
    named
        .images
        .iter()
        .map(|rec| image_platform(store, rec))
        .collect()
}

/// [`platforms_of`] as messages show them: `linux/amd64, linux/arm64`.
pub fn platforms_shown(store: &Store, named: &NamedImage) -> Result<String> {
    let shown: Vec<String> = platforms_of(store, named)?
        .iter()
        .map(Platform::to_string)
        .collect();
    Ok(shown.join(", "))
}

/// Which of a name's images of other platforms stay when one platform's image is added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joining {
    /// Those that came from the same image index as the new one (a pull, or a load, of one
    /// platform of a multi-platform image: the tag did not move). An image of no index, or of
    /// another, replaces them all — as `docker pull` and `docker load` replace a tag.
    SameIndex,
    /// All of them (`cairn import --platform`: the user assembles a multi-platform name one
    /// platform at a time). The name then has no index of its own.
    AnyOther,
}

/// Add `rec` to the name `name` as its platform's image (replacing the name's image of that
/// platform), keeping its other platforms' images as `joining` says. The read and the write
/// are one step under the name's lock: two processes adding two platforms keep both.
pub fn add_platform_image(
    store: &Store,
    name: &str,
    rec: &ImageRecord,
    index: Option<&OciDigest>,
    joining: Joining,
) -> Result<NamedImage> {
    let platform = image_platform(store, rec)?.normalized();
    let _lock = store.lock(&format!("image-name:{name}"))?;
    let mut images = Vec::new();
    if let Some(have) = store.image_get(name)? {
        let keep = match joining {
            Joining::SameIndex => index.is_some() && have.index.as_ref() == index,
            Joining::AnyOther => true,
        };
        for other in have.images.into_iter().filter(|_| keep) {
            // An image whose config is gone cannot say its platform: it is dropped.
            if other.manifest != rec.manifest
                && image_platform(store, &other).is_ok_and(|p| p.normalized() != platform)
            {
                images.push(other);
            }
        }
    }
    images.push(rec.clone());
    let named = NamedImage {
        index: match joining {
            Joining::SameIndex => index.cloned(),
            Joining::AnyOther => None,
        },
        images,
    };
    store.image_put(name, &named)?;
    Ok(named)
}

/// The OCI image index of `images`, each listed with its platform: what a tag of a
/// multi-platform image names in a registry (`docker buildx build --platform a,b --push`).
/// Returns its digest and bytes.
pub fn image_index<'a>(
    images: impl IntoIterator<Item = (&'a crate::AssembledImage, &'a Platform)>,
) -> Result<(OciDigest, Vec<u8>)> {
    use crate::model::{Descriptor, Index, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST, PlatformJson};
    #[derive(serde::Deserialize)]
    struct Typed {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    let mut manifests = Vec::new();
    for (img, platform) in images {
        let media_type = serde_json::from_slice::<Typed>(&img.manifest_bytes)
            .ok()
            .and_then(|t| t.media_type)
            .unwrap_or_else(|| MEDIA_TYPE_MANIFEST.to_string());
        manifests.push(Descriptor {
            media_type,
            digest: img.manifest.to_string(),
            size: img.manifest_bytes.len() as u64,
            artifact_type: None,
            annotations: None,
            platform: Some(PlatformJson {
                architecture: platform.architecture.clone(),
                os: platform.os.clone(),
                variant: platform.variant.clone(),
            }),
        });
    }
    let index = Index {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_INDEX.into()),
        manifests,
        annotations: None,
    };
    let bytes = crate::assemble::to_json("image index", &index)?;
    Ok((OciDigest::of(&bytes), bytes))
}
