//! Unit tests of the layout arithmetic (`layout.rs`): every view and index computation checked
//! against values worked out by hand, error paths included. Iterators are bounded with `take` so
//! a broken index walk fails instead of growing without end.

use super::*;

#[test]
fn merges_contiguous_dims_and_keeps_broadcasts_apart() {
    let (d, s) = merge_dims(&[2, 3, 4], &[vec![12, 4, 1], vec![0, 4, 1]]);
    assert_eq!(d, vec![2, 12]);
    assert_eq!(s, vec![vec![12, 1], vec![0, 1]]);
    let (d, s) = merge_dims(&[1, 5], &[vec![5, 1]]);
    assert_eq!((d, s), (vec![5], vec![vec![1]]));
    let (d, s) = merge_dims(&[3, 4], &[vec![1, 3]]);
    assert_eq!((d, s), (vec![3, 4], vec![vec![1, 3]]));
}

#[test]
fn strided_index_walks_a_transpose() {
    let l = Layout::contiguous(&[2, 3]).transpose(0, 1).unwrap();
    let idx: Vec<usize> = l.storage_indices().collect();
    assert_eq!(idx, vec![0, 3, 1, 4, 2, 5]);
}

#[test]
fn batched_matrix_collapses_contiguous_batches() {
    let l = Layout::contiguous(&[2, 3, 4, 5]);
    assert_eq!(l.batched_matrix(), Some((6, 20)));
    let p = l.permute(&[1, 0, 2, 3]).unwrap();
    assert_eq!(p.batched_matrix(), None);
    let b = Layout::contiguous(&[4, 5])
        .broadcast_as(&[3, 4, 5])
        .unwrap();
    assert_eq!(b.batched_matrix(), Some((3, 0)));
}

#[test]
fn broadcast_rules() {
    assert_eq!(
        broadcast_shapes("t", &[2, 1, 4], &[3, 1]).unwrap(),
        vec![2, 3, 4]
    );
    assert!(broadcast_shapes("t", &[2, 3], &[4, 3, 2]).is_err());
}

#[test]
fn contiguous_strides_are_row_major() {
    assert_eq!(contiguous_strides(&[2, 3, 4, 5]), vec![60, 20, 5, 1]);
    assert_eq!(contiguous_strides(&[7]), vec![1]);
    assert_eq!(contiguous_strides(&[]), Vec::<usize>::new());
    let l = Layout::contiguous(&[2, 3, 4]);
    assert_eq!(
        (l.dims(), l.strides(), l.offset()),
        (&[2, 3, 4][..], &[12, 4, 1][..], 0)
    );
    assert_eq!((l.rank(), l.elem_count()), (3, 24));
}

#[test]
fn merge_dims_of_only_unit_dims_is_one_element() {
    let (d, s) = merge_dims(&[1, 1], &[vec![3, 1], vec![0, 0]]);
    assert_eq!((d, s), (vec![1], vec![vec![0], vec![0]]));
}

#[test]
fn contiguity_ignores_unit_dims_and_sees_transposes_and_offsets() {
    assert!(Layout::contiguous(&[2, 3, 4]).is_contiguous());
    // A size-1 dim may carry any stride.
    assert!(Layout::new(vec![2, 1, 3], vec![3, 7, 1], 0).is_contiguous());
    let t = Layout::contiguous(&[2, 3]).transpose(0, 1).unwrap();
    assert!(!t.is_contiguous() && !t.is_contiguous_from_start());
    assert!(Layout::contiguous(&[2, 3]).is_contiguous_from_start());
    // Rows 1..3 of a [4, 3] matrix: contiguous, but not from the start of the storage.
    let rows = Layout::contiguous(&[4, 3]).narrow(0, 1, 2).unwrap();
    assert!(rows.is_contiguous() && !rows.is_contiguous_from_start());
}

#[test]
fn max_storage_index_is_the_last_addressed_element() {
    // offset 4 + (2 - 1)·1 + (3 - 1)·2
    assert_eq!(
        Layout::new(vec![2, 3], vec![1, 2], 4).max_storage_index(),
        Some(9)
    );
    assert_eq!(Layout::contiguous(&[2, 3]).max_storage_index(), Some(5));
    assert_eq!(Layout::contiguous(&[2, 0, 3]).max_storage_index(), None);
}

#[test]
fn resolve_dim_accepts_only_dims_below_the_rank() {
    let l = Layout::contiguous(&[2, 3]);
    assert_eq!(l.resolve_dim("t", 0).unwrap(), 0);
    assert_eq!(l.resolve_dim("t", 1).unwrap(), 1);
    assert!(matches!(
        l.resolve_dim("t", 2),
        Err(Error::DimOutOfRange {
            op: "t",
            dim: 2,
            rank: 2
        })
    ));
}

#[test]
fn reshape_keeps_the_offset_and_refuses_other_counts_and_strided_views() {
    let rows = Layout::contiguous(&[4, 3]).narrow(0, 1, 2).unwrap();
    let flat = rows.reshape(&[3, 2]).unwrap();
    assert_eq!(
        (flat.dims(), flat.strides(), flat.offset()),
        (&[3, 2][..], &[2, 1][..], 3)
    );
    assert!(matches!(
        rows.reshape(&[7]),
        Err(Error::ReshapeMismatch { .. })
    ));
    let t = Layout::contiguous(&[2, 3]).transpose(0, 1).unwrap();
    assert!(matches!(
        t.reshape(&[6]),
        Err(Error::ReshapeMismatch { .. })
    ));
}

#[test]
fn narrow_moves_the_offset_and_checks_the_end() {
    let l = Layout::contiguous(&[4, 3]);
    let cols = l.narrow(1, 1, 2).unwrap();
    assert_eq!(
        (cols.dims(), cols.strides(), cols.offset()),
        (&[4, 2][..], &[3, 1][..], 1)
    );
    let rows = l.narrow(0, 1, 2).unwrap();
    assert_eq!((rows.dims(), rows.offset()), (&[2, 3][..], 3));
    // Ending exactly at the size is allowed; one further is not.
    let tail = l.narrow(0, 2, 2).unwrap();
    assert_eq!((tail.dims(), tail.offset()), (&[2, 3][..], 6));
    assert!(matches!(
        l.narrow(0, 3, 2),
        Err(Error::IndexOutOfRange {
            op: "narrow",
            index: 5,
            size: 4
        })
    ));
    // `start + len` overflowing is reported saturated, not a panic.
    assert!(matches!(
        l.narrow(0, usize::MAX, 2),
        Err(Error::IndexOutOfRange {
            index: usize::MAX,
            size: 4,
            ..
        })
    ));
    assert!(matches!(
        l.narrow(2, 0, 1),
        Err(Error::DimOutOfRange { .. })
    ));
}

#[test]
fn permute_reorders_dims_and_strides_and_rejects_non_permutations() {
    let l = Layout::contiguous(&[4, 3, 2]).narrow(0, 1, 2).unwrap();
    let p = l.permute(&[2, 0, 1]).unwrap();
    assert_eq!(
        (p.dims(), p.strides(), p.offset()),
        (&[2, 2, 3][..], &[1, 6, 2][..], 6)
    );
    for bad in [&[0, 1][..], &[0, 1, 3], &[0, 0, 1]] {
        assert!(
            matches!(
                l.permute(bad),
                Err(Error::InvalidArgument { op: "permute", .. })
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn broadcast_aligns_on_the_right_and_zeroes_new_and_unit_strides() {
    let col = Layout::contiguous(&[6, 1]).narrow(0, 3, 3).unwrap();
    let b = col.broadcast_as(&[2, 3, 4]).unwrap();
    assert_eq!(
        (b.dims(), b.strides(), b.offset()),
        (&[2, 3, 4][..], &[0, 1, 0][..], 3)
    );
    let v = Layout::contiguous(&[4]).broadcast_as(&[2, 3, 4]).unwrap();
    assert_eq!(v.strides(), &[0, 0, 1]);
    let same = Layout::contiguous(&[2, 3]).broadcast_as(&[2, 3]).unwrap();
    assert_eq!(same.strides(), &[3, 1]);
    for bad in [&[3][..], &[3, 4]] {
        assert!(
            matches!(
                Layout::contiguous(&[3, 2]).broadcast_as(bad),
                Err(Error::ShapeMismatch {
                    op: "broadcast",
                    ..
                })
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn batched_matrix_of_matrices_and_deep_batches() {
    assert_eq!(Layout::contiguous(&[4, 5]).batched_matrix(), Some((1, 0)));
    assert_eq!(
        Layout::contiguous(&[2, 3, 4, 5, 6]).batched_matrix(),
        Some((24, 30))
    );
    // Unit lead dims are skipped whatever their stride.
    let l = Layout::new(vec![2, 1, 3, 4, 5], vec![60, 7, 20, 5, 1], 0);
    assert_eq!(l.batched_matrix(), Some((6, 20)));
    // The outermost lead dim does not follow on from the two inside it.
    let l = Layout::contiguous(&[2, 3, 4, 5, 6])
        .permute(&[1, 2, 0, 3, 4])
        .unwrap();
    assert_eq!(l.batched_matrix(), None);
}

#[test]
fn strided_index_walks_narrowed_and_broadcast_views() {
    let cols = Layout::contiguous(&[3, 4]).narrow(1, 1, 2).unwrap();
    let idx: Vec<usize> = cols.storage_indices().take(7).collect();
    assert_eq!(idx, vec![1, 2, 5, 6, 9, 10]);
    let b = Layout::contiguous(&[3]).broadcast_as(&[2, 3]).unwrap();
    let idx: Vec<usize> = b.storage_indices().take(7).collect();
    assert_eq!(idx, vec![0, 1, 2, 0, 1, 2]);
    assert_eq!(Layout::contiguous(&[2, 0]).storage_indices().next(), None);
}

#[test]
fn broadcast_shapes_pads_either_side_with_ones() {
    assert_eq!(
        broadcast_shapes("t", &[4], &[2, 3, 1]).unwrap(),
        vec![2, 3, 4]
    );
    assert_eq!(broadcast_shapes("t", &[2, 1], &[1, 5]).unwrap(), vec![2, 5]);
    assert_eq!(broadcast_shapes("t", &[3, 4], &[3, 4]).unwrap(), vec![3, 4]);
    assert!(matches!(
        broadcast_shapes("t", &[2, 3], &[3, 3]),
        Err(Error::ShapeMismatch { op: "t", .. })
    ));
}
