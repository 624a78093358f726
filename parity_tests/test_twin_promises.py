"""What the README promises of every TF twin as a Keras layer, and of both twins at the edges."""

import numpy as np
import pytest
from conftest import need

from twinmem import registry


@pytest.mark.parametrize("name", registry.names())
def test_a_tf_twin_saves_and_loads_as_a_keras_file(tmp_path, name):
    # get_config / from_config carry the twin's config dataclass; the .keras file carries the weights.
    need("tf")
    import keras

    entry = registry.get(name)
    config = entry.make_config(next(iter(entry.variants)))
    model = entry.build("tf", config, "float64", entry.random_weights(config))
    inputs = entry.make_inputs(config)
    before = [np.asarray(o) for o in model(**inputs) if o is not None]
    keras.saving.save_model(model, tmp_path / "twin.keras")
    loaded = keras.saving.load_model(tmp_path / "twin.keras")
    assert type(loaded) is type(model) and loaded.config == config
    after = [np.asarray(o) for o in loaded(**inputs) if o is not None]
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("path", ["explicit", "fused"])
@pytest.mark.parametrize("framework", ["tf", "torch"])
def test_an_empty_batch_gives_empty_outputs(framework, path):
    need(framework)
    run = __import__(f"{framework}_impl.run", fromlist=["to_tensors", "to_numpy"])
    entry = registry.get("lstm")
    config = entry.make_config(path=path)
    model = entry.build(framework, config, "float32", entry.random_weights(config))
    x = run.to_tensors({"x": np.zeros((0, 5, config.input_size))}, "float32")["x"]
    shapes = [tuple(run.to_numpy(o).shape) for o in model(x)]
    assert shapes == [(0, 5, config.hidden_size), (1, 0, config.hidden_size), (1, 0, config.hidden_size)]


def test_the_explicit_tf_path_names_what_an_unknown_length_needs():
    need("tf")
    import tensorflow as tf

    entry = registry.get("gru")
    config = entry.make_config()
    model = entry.build("tf", config, "float32", entry.random_weights(config))
    step = tf.function(model, input_signature=[tf.TensorSpec((None, None, config.input_size), tf.float32)])
    with pytest.raises(ValueError, match="sequence length of `x` must be static"):
        step(np.zeros((2, 3, config.input_size), np.float32))


def test_a_python_list_gets_the_twins_own_message():
    need("tf")
    entry = registry.get("lstm")
    config = entry.make_config()
    model = entry.build("tf", config, "float32", entry.random_weights(config))
    with pytest.raises(TypeError, match=r"Expected `x` to be a tf.Tensor or a NumPy array. Received: builtins.list"):
        model([[[0.0] * config.input_size]])
