//! Integration tests of cairn-oci. They create device nodes, chown files and set `trusted.*`
//! xattrs, so they need root — which the dev machines and CI have.

mod hostile;
mod images;
mod layers;
mod platforms;
mod util;
