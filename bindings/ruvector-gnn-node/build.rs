//! Build script: napi-rs link set-up for the Node.js addon.

fn main() {
    napi_build::setup();
}
