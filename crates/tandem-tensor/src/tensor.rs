//! [`Tensor`]: a typed view (layout + dtype) of storage that lives on a backend's device.

use crate::layout::Layout;
use crate::{Backend, DType, Element, Error, Result};
use std::fmt;
use std::sync::Arc;

/// An n-dimensional array on a backend's device.
///
/// Cloning is cheap (the storage is shared). Views (`reshape`, `narrow`, `transpose`, `permute`,
/// `broadcast_as`) share storage and only change the layout; ops produce new storage. Reading
/// data back (`to_vec`) is the only point where the host waits for the device.
pub struct Tensor<B: Backend> {
    storage: Arc<B::Storage>,
    layout: Layout,
    dtype: DType,
    backend: B,
}

impl<B: Backend> Clone for Tensor<B> {
    fn clone(&self) -> Self {
        Tensor {
            storage: self.storage.clone(),
            layout: self.layout.clone(),
            dtype: self.dtype,
            backend: self.backend.clone(),
        }
    }
}

impl<B: Backend> fmt::Debug for Tensor<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Tensor[{:?}, {}, {}]",
            self.dims(),
            self.dtype,
            self.backend.name()
        )
    }
}

/// The element count of user-supplied `dims`, or an error when the product overflows `usize`
/// (a plain `product()` would panic in debug builds and wrap in release).
fn checked_elem_count(op: &'static str, dims: &[usize]) -> Result<usize> {
    if dims.contains(&0) {
        return Ok(0);
    }
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            Error::invalid(
                op,
                format!("shape {dims:?} has more elements than fit in usize"),
            )
        })
}

impl<B: Backend> Tensor<B> {
    /// Wraps storage holding exactly `dims` elements contiguously (what backend ops return).
    pub fn from_storage(storage: B::Storage, dims: &[usize], dtype: DType, backend: B) -> Self {
        Tensor {
            storage: Arc::new(storage),
            layout: Layout::contiguous(dims),
            dtype,
            backend,
        }
    }

    /// A view of existing storage with an explicit layout (used by backends and weight loaders).
    pub fn from_shared(storage: Arc<B::Storage>, layout: Layout, dtype: DType, backend: B) -> Self {
        Tensor {
            storage,
            layout,
            dtype,
            backend,
        }
    }

    /// Uploads `data` with shape `dims`.
    pub fn from_slice<T: Element>(backend: &B, data: &[T], dims: &[usize]) -> Result<Self> {
        let expected = checked_elem_count("from_slice", dims)?;
        if data.len() != expected {
            return Err(Error::DataLength {
                op: "from_slice",
                len: data.len(),
                expected,
                shape: dims.to_vec(),
            });
        }
        let storage = backend.upload(bytemuck::cast_slice(data), T::DTYPE)?;
        Ok(Self::from_storage(storage, dims, T::DTYPE, backend.clone()))
    }

    /// Uploads raw native-endian bytes of `dtype` (e.g. straight from a safetensors file).
    pub fn from_bytes(backend: &B, bytes: &[u8], dims: &[usize], dtype: DType) -> Result<Self> {
        let expected = checked_elem_count("from_bytes", dims)?;
        if expected.checked_mul(dtype.size_in_bytes()) != Some(bytes.len()) {
            return Err(Error::DataLength {
                op: "from_bytes",
                len: bytes.len() / dtype.size_in_bytes(),
                expected,
                shape: dims.to_vec(),
            });
        }
        let storage = backend.upload(bytes, dtype)?;
        Ok(Self::from_storage(storage, dims, dtype, backend.clone()))
    }

    /// Uploads raw native-endian bytes the caller gives up (see [`Backend::upload_owned`]): a
    /// GPU backend may start an asynchronous copy and return at once, so decoding the next
    /// image overlaps the upload of this one.
    pub fn from_bytes_owned(
        backend: &B,
        bytes: Vec<u8>,
        dims: &[usize],
        dtype: DType,
    ) -> Result<Self> {
        let expected = checked_elem_count("from_bytes_owned", dims)?;
        if expected.checked_mul(dtype.size_in_bytes()) != Some(bytes.len()) {
            return Err(Error::DataLength {
                op: "from_bytes_owned",
                len: bytes.len() / dtype.size_in_bytes(),
                expected,
                shape: dims.to_vec(),
            });
        }
        let storage = backend.upload_owned(bytes, dtype)?;
        Ok(Self::from_storage(storage, dims, dtype, backend.clone()))
    }

    /// A tensor with every element equal to `value`.
    pub fn full(backend: &B, value: f64, dims: &[usize], dtype: DType) -> Result<Self> {
        let storage = backend.full(value, checked_elem_count("full", dims)?, dtype)?;
        Ok(Self::from_storage(storage, dims, dtype, backend.clone()))
    }

    pub fn zeros(backend: &B, dims: &[usize], dtype: DType) -> Result<Self> {
        Self::full(backend, 0.0, dims, dtype)
    }

    pub fn dims(&self) -> &[usize] {
        self.layout.dims()
    }
    pub fn rank(&self) -> usize {
        self.layout.rank()
    }
    /// Size of dimension `d`, or an error naming `op`.
    pub fn dim(&self, d: usize) -> Result<usize> {
        Ok(self.dims()[self.layout.resolve_dim("dim", d)?])
    }
    pub fn elem_count(&self) -> usize {
        self.layout.elem_count()
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    pub fn layout(&self) -> &Layout {
        &self.layout
    }
    pub fn storage(&self) -> &B::Storage {
        &self.storage
    }
    pub fn backend(&self) -> &B {
        &self.backend
    }
    pub fn is_contiguous(&self) -> bool {
        self.layout.is_contiguous()
    }

    pub(crate) fn with_layout(&self, layout: Layout) -> Self {
        Tensor {
            storage: self.storage.clone(),
            layout,
            dtype: self.dtype,
            backend: self.backend.clone(),
        }
    }

    /// The same data, contiguous from the start of its own storage (a copy only when needed).
    pub fn contiguous(&self) -> Result<Self> {
        if self.layout.is_contiguous_from_start() {
            return Ok(self.clone());
        }
        let storage = self.backend.copy_strided(self)?;
        Ok(Self::from_storage(
            storage,
            self.dims(),
            self.dtype,
            self.backend.clone(),
        ))
    }

    /// Storage holding exactly this tensor's elements in row-major order.
    pub fn into_contiguous_storage(self) -> Result<B::Storage> {
        let t = self.contiguous()?;
        let len = t.elem_count();
        match Arc::try_unwrap(t.storage) {
            Ok(s) => Ok(s),
            Err(shared) => {
                let view = Tensor::from_shared(
                    shared,
                    Layout::new(vec![len], vec![1], 0),
                    t.dtype,
                    t.backend,
                );
                view.backend.copy_strided(&view)
            }
        }
    }

    /// Writes `src` into `self` along `dim` at positions `start..start + src.dims()[dim]`, in
    /// place (through [`Backend::copy_into`]); every other dim of `src` must equal `self`'s.
    ///
    /// `self` keeps value semantics: when its storage is shared with other tensors (clones,
    /// views), it is first copied (copy-on-write) so the others never see the write. Hold the
    /// buffer uniquely to write without copying: e.g. a KV cache preallocated as
    /// `[batch, heads, max_len, head_dim]` that hands out `narrow(2, 0, len)` views for attention
    /// and drops them before the next step's `slice_set`. `self` may itself be a view (a narrowed
    /// or permuted slice of a larger buffer); only its elements are written.
    ///
    /// ```
    /// use tandem_tensor::{CpuBackend, DType, Tensor};
    /// # fn main() -> tandem_tensor::Result<()> {
    /// let cpu = CpuBackend;
    /// let mut cache = Tensor::zeros(&cpu, &[2, 4], DType::F32)?;
    /// let step = Tensor::from_slice(&cpu, &[1.0f32, 2.0], &[2, 1])?;
    /// cache.slice_set(&step, 1, 2)?; // column 2 ← [1, 2]
    /// assert_eq!(cache.to_vec::<f32>()?, [0., 0., 1., 0., 0., 0., 2., 0.]);
    /// # Ok(()) }
    /// ```
    ///
    /// Errors: different device or dtype, a rank or dim mismatch, `start + len` past the end of
    /// `dim`, or `self` a broadcast view (one storage element standing for several).
    pub fn slice_set(&mut self, src: &Self, dim: usize, start: usize) -> Result<()> {
        let op = "slice_set";
        self.check_same_device(op, src)?;
        self.check_same_dtype(op, src)?;
        let dim = self.layout.resolve_dim(op, dim)?;
        let mismatch = || Error::ShapeMismatch {
            op,
            lhs: self.dims().to_vec(),
            rhs: src.dims().to_vec(),
        };
        if src.rank() != self.rank() {
            return Err(mismatch());
        }
        if self
            .dims()
            .iter()
            .zip(src.dims())
            .enumerate()
            .any(|(i, (a, b))| i != dim && a != b)
        {
            return Err(mismatch());
        }
        let len = src.dims()[dim];
        let target = self.layout.narrow(dim, start, len)?;
        if target.elem_count() == 0 {
            return Ok(());
        }
        if self
            .layout
            .dims()
            .iter()
            .zip(self.layout.strides())
            .any(|(&d, &s)| d > 1 && s == 0)
        {
            return Err(Error::invalid(
                op,
                format!(
                    "cannot write into a broadcast view of shape {:?}",
                    self.dims()
                ),
            ));
        }
        if Arc::get_mut(&mut self.storage).is_none() {
            // Shared: copy-on-write, so clones and views of the old storage keep their values.
            let fresh = self.backend.copy_strided(self)?;
            self.storage = Arc::new(fresh);
            self.layout = Layout::contiguous(self.dims());
        }
        let target = self.layout.narrow(dim, start, len)?;
        let storage = Arc::get_mut(&mut self.storage)
            .ok_or_else(|| Error::invalid(op, "storage still shared after copy-on-write"))?;
        self.backend.copy_into(src, storage, &target)
    }

    // ----- views ---------------------------------------------------------------------------

    /// View with new dims (copies first if the layout is not contiguous).
    pub fn reshape(&self, dims: &[usize]) -> Result<Self> {
        let count = checked_elem_count("reshape", dims)?;
        if count != self.elem_count() {
            return Err(Error::ReshapeMismatch {
                from: self.dims().to_vec(),
                to: dims.to_vec(),
            });
        }
        let base = if self.is_contiguous() {
            self.clone()
        } else {
            self.contiguous()?
        };
        Ok(base.with_layout(base.layout.reshape(dims)?))
    }

    /// `len` entries of `dim` starting at `start`, without copying.
    pub fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Self> {
        Ok(self.with_layout(self.layout.narrow(dim, start, len)?))
    }

    pub fn transpose(&self, d0: usize, d1: usize) -> Result<Self> {
        Ok(self.with_layout(self.layout.transpose(d0, d1)?))
    }

    pub fn permute(&self, order: &[usize]) -> Result<Self> {
        Ok(self.with_layout(self.layout.permute(order)?))
    }

    /// Numpy-style broadcast view (stride 0 on expanded dims).
    pub fn broadcast_as(&self, dims: &[usize]) -> Result<Self> {
        Ok(self.with_layout(self.layout.broadcast_as(dims)?))
    }

    /// Inserts a dimension of size 1 at `dim` (≤ rank).
    pub fn unsqueeze(&self, dim: usize) -> Result<Self> {
        if dim > self.rank() {
            return Err(Error::DimOutOfRange {
                op: "unsqueeze",
                dim,
                rank: self.rank(),
            });
        }
        let mut dims = self.dims().to_vec();
        let mut strides = self.layout.strides().to_vec();
        let stride = if dim < self.rank() {
            strides[dim] * dims[dim]
        } else {
            1
        };
        dims.insert(dim, 1);
        strides.insert(dim, stride);
        Ok(self.with_layout(Layout::new(dims, strides, self.layout.offset())))
    }

    /// Removes dimension `dim`, which must have size 1.
    pub fn squeeze(&self, dim: usize) -> Result<Self> {
        let d = self.layout.resolve_dim("squeeze", dim)?;
        if self.dims()[d] != 1 {
            return Err(Error::invalid(
                "squeeze",
                format!("dimension {d} of {:?} is not 1", self.dims()),
            ));
        }
        let mut dims = self.dims().to_vec();
        let mut strides = self.layout.strides().to_vec();
        dims.remove(d);
        strides.remove(d);
        Ok(self.with_layout(Layout::new(dims, strides, self.layout.offset())))
    }

    /// Merges all dims into one.
    pub fn flatten_all(&self) -> Result<Self> {
        self.reshape(&[self.elem_count()])
    }

    // ----- host transfer -------------------------------------------------------------------

    /// Copies the elements to the host in row-major order; waits for queued device work.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        if T::DTYPE != self.dtype {
            return Err(Error::DTypeMismatch {
                op: "to_vec",
                expected: self.dtype,
                got: T::DTYPE,
            });
        }
        let t = if self.is_contiguous() {
            self.clone()
        } else {
            self.contiguous()?
        };
        let bytes =
            self.backend
                .read_bytes(&t.storage, t.dtype, t.layout.offset(), t.elem_count())?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// Converts any float or int dtype to `f32` on the host (for tests and reporting).
    pub fn to_vec_f32(&self) -> Result<Vec<f32>> {
        self.to_dtype(DType::F32)?.to_vec::<f32>()
    }

    /// The single element of a one-element tensor.
    pub fn to_scalar<T: Element>(&self) -> Result<T> {
        if self.elem_count() != 1 {
            return Err(Error::invalid(
                "to_scalar",
                format!("tensor has shape {:?}", self.dims()),
            ));
        }
        Ok(self.to_vec::<T>()?[0])
    }

    pub(crate) fn check_same_device(&self, op: &'static str, other: &Self) -> Result<()> {
        if self.backend.same_device(&other.backend) {
            Ok(())
        } else {
            Err(Error::DeviceMismatch {
                op,
                lhs: self.backend.name(),
                rhs: other.backend.name(),
            })
        }
    }

    pub(crate) fn check_float(&self, op: &'static str) -> Result<()> {
        if self.dtype.is_float() {
            Ok(())
        } else {
            Err(Error::UnsupportedDType {
                op,
                dtype: self.dtype,
            })
        }
    }

    pub(crate) fn check_same_dtype(&self, op: &'static str, other: &Self) -> Result<()> {
        if self.dtype == other.dtype {
            Ok(())
        } else {
            Err(Error::DTypeMismatch {
                op,
                expected: self.dtype,
                got: other.dtype,
            })
        }
    }
}
