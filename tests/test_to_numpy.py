"""gn.to_numpy: a host NumPy array from any array the library handles, a Tensor included."""

import numpy as np

import glassnet as gn


def test_to_numpy_of_a_tensor_is_its_data():
    data = np.array([[1.0, 2.0], [3.0, 4.0]])
    out = gn.to_numpy(gn.Tensor(data, requires_grad=True))
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_array_equal(out, data)
    assert gn.to_numpy(gn.Tensor([1.0, 2.0])).dtype == np.float32
