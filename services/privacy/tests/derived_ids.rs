//! Ids derived from a member's data key: stable while the key lives, unrelated to anything
//! an outsider can compute, and different under a new key.

use outreach_privacy::DataKey;

#[test]
fn the_same_key_derives_the_same_id_and_another_key_another() {
    let key = DataKey::generate();
    let id = key.derive_id("case", "/datix/parnassus\nINC-1");
    assert_eq!(id, key.clone().derive_id("case", "/datix/parnassus\nINC-1"));
    assert_ne!(id, key.derive_id("case", "/datix/parnassus\nINC-2"));
    assert_ne!(id, key.derive_id("member", "/datix/parnassus\nINC-1"));
    // Purpose and input are kept apart: moving a byte from one to the other changes the id.
    assert_ne!(key.derive_id("ab", "c"), key.derive_id("a", "bc"));
    let successor = DataKey::generate();
    assert_ne!(id, successor.derive_id("case", "/datix/parnassus\nINC-1"));
}
