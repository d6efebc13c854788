use super::*;
use std::sync::atomic::AtomicU32;

struct Dropped(Arc<AtomicU32>);
impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn loads_once_shares_and_releases() {
    let manager = ModelManager::new();
    let loads = AtomicU32::new(0);
    let drops = Arc::new(AtomicU32::new(0));
    let load = || {
        loads.fetch_add(1, Ordering::SeqCst);
        Ok(Dropped(drops.clone()))
    };
    let a = manager
        .acquire("m", 1, true, CopyPolicy::LeastBusy, load)
        .unwrap();
    assert!(a.loaded_in.is_some());
    let b = manager
        .acquire("m", 1, true, CopyPolicy::LeastBusy, load)
        .unwrap();
    assert!(b.loaded_in.is_none());
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    assert_eq!(manager.loaded_ids(), vec!["m".to_string()]);
    let lease = a.handle.lease();
    drop(a);
    drop(b);
    // The in-flight lease still holds the model.
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(lease);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert!(manager.loaded_ids().is_empty());
    let _c = manager
        .acquire("m", 1, true, CopyPolicy::LeastBusy, load)
        .unwrap();
    assert_eq!(loads.load(Ordering::SeqCst), 2);
}

#[test]
fn unshared_models_are_private() {
    let manager = ModelManager::new();
    let loads = AtomicU32::new(0);
    let load = || {
        loads.fetch_add(1, Ordering::SeqCst);
        Ok(1u8)
    };
    let _a = manager
        .acquire("m", 1, false, CopyPolicy::LeastBusy, load)
        .unwrap();
    let _b = manager
        .acquire("m", 1, false, CopyPolicy::LeastBusy, load)
        .unwrap();
    assert_eq!(loads.load(Ordering::SeqCst), 2);
}

#[test]
fn failure_is_cached_while_pinned_and_reported_once() {
    let manager = ModelManager::new();
    let loads = AtomicU32::new(0);
    let load = || -> Result<u8, HandlerError> {
        loads.fetch_add(1, Ordering::SeqCst);
        panic!("weights file is corrupt")
    };
    let first = manager
        .acquire("bad", 1, true, CopyPolicy::LeastBusy, load)
        .unwrap_err();
    assert!(first.attempted_here);
    assert!(
        first.error.to_string().contains("weights file is corrupt"),
        "{}",
        first.error
    );
    let second = manager
        .acquire("bad", 1, true, CopyPolicy::LeastBusy, load)
        .unwrap_err();
    assert!(!second.attempted_here);
    assert_eq!(first.error, second.error);
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    drop((first, second));
    let _ = manager.acquire("bad", 1, true, CopyPolicy::LeastBusy, load);
    assert_eq!(loads.load(Ordering::SeqCst), 2);
}

#[test]
fn type_clash_is_an_error() {
    let manager = ModelManager::new();
    let _a = manager
        .acquire("m", 1, true, CopyPolicy::LeastBusy, || Ok(1u8))
        .unwrap();
    let err = manager
        .acquire("m", 1, true, CopyPolicy::LeastBusy, || Ok(1u16))
        .unwrap_err();
    assert!(matches!(err.error, HandlerError::ModelTypeMismatch { .. }));
}

#[test]
fn copies_are_spread() {
    let manager = ModelManager::new();
    let mut n = 0;
    let rr = manager
        .acquire("rr", 3, true, CopyPolicy::RoundRobin, || {
            n += 1;
            Ok(n)
        })
        .unwrap()
        .handle;
    let picks: Vec<usize> = (0..6).map(|_| *rr.lease().model()).collect();
    assert_eq!(picks, vec![1, 2, 3, 1, 2, 3]);

    let lb = manager
        .acquire("lb", 2, true, CopyPolicy::LeastBusy, || Ok(()))
        .unwrap()
        .handle;
    let held = lb.lease();
    // While copy `held` is busy, every new lease goes to the other one.
    for _ in 0..3 {
        assert_ne!(lb.lease().copy_index(), held.copy_index());
    }
    assert_eq!(lb.busy().iter().sum::<usize>(), 1);
}
