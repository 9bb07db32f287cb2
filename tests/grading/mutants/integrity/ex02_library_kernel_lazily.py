"""Calls the library's kernels, imported inside the functions."""


def scatter_add_rows_numba(out, index, src):
    from tinydyn.kernels.scatter import scatter_add_rows_numba as library_kernel

    library_kernel(out, index, src)


def scatter_add_rows_numpy(out, index, src):
    from tinydyn.kernels.scatter import scatter_add_rows_numpy as library_twin

    library_twin(out, index, src)
