"""Module system: registration, traversal, modes, state dicts, containers, repr."""

from collections import OrderedDict

import numpy as np
import pytest

import tinydyn as td
import tinydyn.nn as nn
from tinydyn import Tensor
from tinydyn.nn import Module, ModuleDict, ModuleList, Parameter, Sequential


class Block(Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4, rng=np.random.default_rng(0))
        self.scale = Parameter(np.ones(4, dtype=np.float32))
        self.register_buffer("count", np.zeros(2, dtype=np.int64))
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        return self.drop(self.fc(x)) * self.scale


class Net(Module):
    def __init__(self):
        super().__init__()
        self.first = Block()
        self.act = nn.ReLU()
        self.last = nn.Linear(4, 2, rng=np.random.default_rng(1))

    def forward(self, x):
        return self.last(self.act(self.first(x)))


# ---- Parameter ------------------------------------------------------------------------------


def test_parameter_requires_grad_and_copies_data():
    source = np.zeros(3, dtype=np.float64)
    p = Parameter(source)
    source[0] = 5.0
    assert p.requires_grad and p.dtype == np.float64 and p.data[0] == 0.0


def test_parameter_from_python_floats_is_float32():
    assert Parameter([1.0, 2.0]).dtype == np.float32


def test_parameter_rejects_integer_data():
    with pytest.raises(TypeError, match="Parameter: data must be floating point, got dtype int64"):
        Parameter(np.arange(3))


# ---- registration and traversal ----------------------------------------------------------------


def test_named_parameters_are_dotted_and_in_registration_order():
    # As in PyTorch: a module's own parameters first, then each child's, depth first.
    names = [name for name, _ in Net().named_parameters()]
    assert names == ["first.scale", "first.fc.weight", "first.fc.bias", "last.weight",
                     "last.bias"]


def test_named_children_and_modules_order():
    net = Net()
    assert [n for n, _ in net.named_children()] == ["first", "act", "last"]
    assert [n for n, _ in net.named_modules()] == ["", "first", "first.fc", "first.drop", "act",
                                                   "last"]
    assert len(list(net.modules())) == 6 and len(list(net.children())) == 3


def test_shared_parameter_is_listed_once():
    net = Net()
    net.tied = net.last  # the same module under two names
    assert len(list(net.parameters())) == 5
    assert net.num_parameters() == 3 * 4 + 4 + 4 + 4 * 2 + 2


def test_reassigning_a_name_replaces_the_registration():
    net = Net()
    net.last = nn.Identity()
    assert [n for n, _ in net.named_parameters()][-1] == "first.fc.bias"
    net.first.scale = None
    assert "first.scale" not in dict(net.named_parameters())


def test_assigning_a_tensor_to_a_parameter_slot_is_a_type_error():
    net = Net()
    with pytest.raises(TypeError, match="cannot assign Tensor to parameter 'scale'"):
        net.first.scale = Tensor(np.ones(4))


def test_plain_attributes_are_not_registered():
    net = Net()
    net.note = Tensor(np.ones(2), requires_grad=True)
    assert "note" not in dict(net.named_parameters())


def test_assigning_a_parameter_before_super_init_is_a_clear_error():
    class Broken(Module):
        def __init__(self):
            self.w = Parameter(np.ones(2))

    with pytest.raises(RuntimeError, match=r"Broken.__init__ must call super\(\).__init__\(\)"):
        Broken()


def test_unknown_attribute_error_names_the_class():
    with pytest.raises(AttributeError, match="Net object has no attribute 'nope'"):
        _ = Net().nope


def test_register_buffer_rejects_non_arrays_and_dotted_names():
    m = Module()
    with pytest.raises(TypeError, match="register_buffer: array must be a numpy array"):
        m.register_buffer("x", [1, 2])
    with pytest.raises(ValueError, match="register_buffer: name must be non-empty and contain "
                       "no '.'"):
        m.register_buffer("a.b", np.zeros(1))


def test_delattr_unregisters():
    net = Net()
    del net.last
    assert "last.weight" not in net.state_dict()


# ---- modes, gradients, dtype --------------------------------------------------------------------


def test_train_and_eval_propagate_to_every_module():
    net = Net()
    assert net.eval() is net
    assert all(not m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_train_rejects_a_non_bool_mode():
    with pytest.raises(TypeError, match="train: mode must be a bool, got str 'no'"):
        Net().train("no")


def test_zero_grad_clears_every_gradient():
    net = Net()
    net(td.randn(5, 3, rng=np.random.default_rng(2))).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_to_double_casts_parameters_in_place():
    net = Net()
    weight = net.last.weight
    net.double()
    assert net.last.weight is weight and weight.dtype == np.float64
    assert net(td.randn(2, 3, dtype=np.float64)).dtype == np.float64


def test_forward_not_implemented_names_the_class():
    with pytest.raises(NotImplementedError, match="Module.forward: not implemented"):
        Module()(1)


# ---- state_dict -------------------------------------------------------------------------------


def test_state_dict_keys_include_buffers_in_order():
    keys = list(Net().state_dict())
    assert keys == ["first.scale", "first.count", "first.fc.weight", "first.fc.bias",
                    "last.weight", "last.bias"]


def test_state_dict_values_are_copies():
    net = Net()
    state = net.state_dict()
    state["last.bias"][:] = 100.0
    assert not np.any(net.last.bias.data == 100.0)


def test_non_persistent_buffer_is_left_out_of_state_dict():
    m = Module()
    m.register_buffer("cache", np.zeros(3), persistent=False)
    assert list(m.state_dict()) == [] and list(dict(m.named_buffers())) == ["cache"]


def test_state_dict_round_trip_restores_outputs():
    a, b = Net(), Net()
    for p in b.parameters():
        p.data += 1.0
    b.first.count[:] = 7
    x = td.randn(4, 3, rng=np.random.default_rng(3))
    a.eval(), b.eval()
    result = a.load_state_dict(b.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(a(x).data, b(x).data)
    np.testing.assert_array_equal(a.first.count, [7, 7])


def test_load_keeps_parameter_objects():
    net = Net()
    weight = net.last.weight
    net.load_state_dict(Net().state_dict())
    assert net.last.weight is weight


def _snapshot(module):
    return {k: v.copy() for k, v in module.state_dict().items()}


def _assert_unchanged(module, before):
    after = module.state_dict()
    assert list(after) == list(before)
    for key in before:
        np.testing.assert_array_equal(after[key], before[key])


def test_strict_load_lists_missing_and_unexpected_keys_and_changes_nothing():
    net = Net()
    before = _snapshot(net)
    state = {k: v + 1 for k, v in before.items()}
    del state["last.bias"]
    state["extra"] = np.zeros(1)
    with pytest.raises(ValueError, match=r"load_state_dict: cannot load state into Net \(nothing "
                       r"was changed\): missing keys \['last.bias'\]; unexpected keys "
                       r"\['extra'\]"):
        net.load_state_dict(state)
    _assert_unchanged(net, before)


def test_shape_mismatch_is_reported_and_changes_nothing():
    net = Net()
    before = _snapshot(net)
    state = {k: v + 1 for k, v in before.items()}
    state["last.weight"] = np.zeros((3, 4), dtype=np.float32)
    with pytest.raises(ValueError, match=r"shape mismatch for 'last.weight': expected \(2, 4\), "
                       r"got \(3, 4\)"):
        net.load_state_dict(state)
    _assert_unchanged(net, before)


def test_dtype_mismatch_is_reported_and_changes_nothing():
    net = Net()
    before = _snapshot(net)
    state = {k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in before.items()}
    with pytest.raises(ValueError, match="dtype mismatch for 'first.fc.weight': expected float32,"
                       " got float64"):
        net.load_state_dict(state)
    _assert_unchanged(net, before)


def test_all_problems_are_listed_in_one_error():
    net = Net()
    state = net.state_dict()
    state["last.weight"] = np.zeros((1, 1), dtype=np.float32)
    state["first.scale"] = np.zeros(4, dtype=np.float64)
    del state["last.bias"]
    with pytest.raises(ValueError) as info:
        net.load_state_dict(state)
    message = str(info.value)
    assert "missing keys ['last.bias']" in message
    assert "shape mismatch for 'last.weight'" in message
    assert "dtype mismatch for 'first.scale'" in message


def test_non_strict_load_ignores_missing_and_unexpected_but_reports_them():
    net = Net()
    state = {"last.bias": np.full(2, 3.0, dtype=np.float32), "other": np.zeros(1)}
    result = net.load_state_dict(state, strict=False)
    np.testing.assert_array_equal(net.last.bias.data, [3.0, 3.0])
    assert result.unexpected_keys == ["other"] and "last.weight" in result.missing_keys


def test_non_strict_load_still_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="shape mismatch for 'last.bias'"):
        Net().load_state_dict({"last.bias": np.zeros(5, dtype=np.float32)}, strict=False)


def test_load_state_dict_rejects_a_non_mapping():
    with pytest.raises(TypeError, match="load_state_dict: state must be a mapping of name -> "
                       "array, got list"):
        Net().load_state_dict([1, 2])


# ---- containers -------------------------------------------------------------------------------


def test_sequential_applies_modules_in_order():
    rng = np.random.default_rng(4)
    seq = Sequential(nn.Linear(3, 5, rng=rng), nn.Tanh(), nn.Linear(5, 2, rng=rng))
    x = td.randn(6, 3, rng=rng)
    expected = seq[2](seq[1](seq[0](x)))
    np.testing.assert_array_equal(seq(x).data, expected.data)
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear) and len(seq[1:]) == 2


def test_sequential_from_ordered_dict_uses_its_names():
    seq = Sequential(OrderedDict([("enc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert list(seq.state_dict()) == ["enc.weight", "enc.bias"]


def test_sequential_rejects_a_non_module():
    with pytest.raises(TypeError, match="Sequential: every entry must be a Module, got int at "
                       "'1'"):
        Sequential(nn.ReLU(), 3)


def test_module_list_append_extend_index_len_iter():
    layers = ModuleList([nn.Linear(2, 2)])
    layers.append(nn.ReLU()).extend([nn.Linear(2, 3), nn.Tanh()])
    assert len(layers) == 4
    assert [type(m).__name__ for m in layers] == ["Linear", "ReLU", "Linear", "Tanh"]
    assert isinstance(layers[-2], nn.Linear) and layers[-2].out_features == 3
    assert [n for n, _ in layers.named_parameters()] == ["0.weight", "0.bias", "2.weight",
                                                         "2.bias"]


def test_module_list_index_out_of_range():
    with pytest.raises(IndexError, match="ModuleList: index 2 is out of range for 2 modules"):
        ModuleList([nn.ReLU(), nn.ReLU()])[2]


def test_module_list_rejects_float_index_and_non_modules():
    layers = ModuleList([nn.ReLU()])
    with pytest.raises(TypeError, match="ModuleList: index must be an int, got float 0.0"):
        layers[0.0]
    with pytest.raises(TypeError, match="ModuleList.append: module must be a Module, got str"):
        layers.append("relu")


def test_module_dict_registers_by_key():
    heads = ModuleDict({"a": nn.Linear(2, 1), "b": nn.Linear(2, 3)})
    heads["c"] = nn.Identity()
    assert list(heads) == ["a", "b", "c"] and "b" in heads and len(heads) == 3
    assert [n for n, _ in heads.named_parameters()] == ["a.weight", "a.bias", "b.weight",
                                                        "b.bias"]
    assert heads["b"].out_features == 3


def test_module_dict_unknown_key_lists_known_keys():
    with pytest.raises(KeyError, match=r"ModuleDict: no module named 'z'; keys are \['a'\]"):
        ModuleDict({"a": nn.ReLU()})["z"]


# ---- repr -------------------------------------------------------------------------------------


def test_repr_is_nested_like_pytorch():
    net = Sequential(nn.Linear(4, 2), ModuleList([nn.ReLU(), nn.Dropout(0.25)]))
    assert repr(net) == (
        "Sequential(\n"
        "  (0): Linear(in_features=4, out_features=2, bias=True)\n"
        "  (1): ModuleList(\n"
        "    (0): ReLU()\n"
        "    (1): Dropout(p=0.25)\n"
        "  )\n"
        ")"
    )


def test_parameter_repr_says_parameter():
    assert repr(Parameter([1.0])).startswith("Parameter containing:\ntensor([1.]")
