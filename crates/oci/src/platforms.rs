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
pub fn image_for_platform(
    store: &Store,
    named: &NamedImage,
    want: &Platform,
) -> Result<Option<ImageRecord>> {
    let mut serving = None;
    for rec in &named.images {
        let have = image_platform(store, rec)?;
        if have == *want {
            return Ok(Some(rec.clone()));
        }
        if serving.is_none() && have.serves(want) {
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

/// Add `rec` to the name `name` as its platform's image. The name keeps its images of other
/// platforms when they come from the same source as `rec` — the same index (`index`: the
/// registry's, for a pull), or none (`None`: images imported or loaded one by one) — so pulling
/// a second platform of a tag, or importing one, keeps the first; an image of a different
/// index replaces them all (the tag moved).
pub fn add_platform_image(
    store: &Store,
    name: &str,
    rec: &ImageRecord,
    index: Option<&OciDigest>,
) -> Result<NamedImage> {
    let platform = image_platform(store, rec)?;
    let mut images = Vec::new();
    if let Some(have) = store.image_get(name)?
        && have.index.as_ref() == index
    {
        for other in have.images {
            // An image whose config is gone cannot say its platform: it is dropped.
            if other.manifest != rec.manifest
                && image_platform(store, &other).is_ok_and(|p| p != platform)
            {
                images.push(other);
            }
        }
    }
    images.push(rec.clone());
    let named = NamedImage {
        index: index.cloned(),
        images,
    };
    store.image_put(name, &named)?;
    Ok(named)
}

/// The OCI image index of `images`, each listed with its platform: what a tag of a
/// multi-platform image names in a registry (`docker buildx build --platform a,b --push`).
/// Returns its digest and bytes.
pub fn image_index(images: &[(&crate::AssembledImage, &Platform)]) -> Result<(OciDigest, Vec<u8>)> {
    use crate::model::{Descriptor, Index, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST, PlatformJson};
    #[derive(serde::Deserialize)]
    struct Typed {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    let mut manifests = Vec::with_capacity(images.len());
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
