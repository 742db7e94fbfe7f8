"""Minimal .npy writer for the CLI tests' synthetic datasets (no NumPy needed).

    import sys; sys.path.insert(0, TESTS_COMMON); from npy import npy_save
    npy_save(path, flat_values, shape, descr)   # descr: '<i8', '|u1', '<f4'
"""
import struct


def npy_save(path, data, shape, descr):
    fmt = {'<i8': 'q', '|u1': 'B', '<f4': 'f'}[descr]
    shp = '(%d,)' % shape[0] if len(shape) == 1 else '(' + ', '.join('%d' % s for s in shape) + ')'
    hdr = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shp)
    hdr += ' ' * ((64 - (10 + len(hdr) + 1) % 64) % 64) + '\n'
    with open(path, 'wb') as f:
        f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(hdr)) + hdr.encode('latin1'))
        f.write(struct.pack('<%d%s' % (len(data), fmt), *data))
