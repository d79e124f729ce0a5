//! The catalogues are embedded at compile time by `static_loader!`, which cargo does not see
//! reading them: a changed catalogue must rebuild the crate.
fn main() {
    println!("cargo:rerun-if-changed=locales");
}
