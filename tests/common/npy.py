"""Minimal .npy writer for the CLI tests' synthetic datasets (no NumPy needed).

    import sys; sys.path.insert(0, TESTS_COMMON); from npy import npy_save
    npy_save(path, flat_values, shape, descr)   # descr: '<f8', '<f4', '<i8', '<i4', '|u1'
"""
import struct


def npy_save(path, data, shape, descr):
    fmt = {'<f8': 'd', '<f4': 'f', '<i8': 'q', '<i4': 'i', '|u1': 'B'}[descr]
    if len(shape) == 0:
        shp = '()'
    elif len(shape) == 1:
        shp = '(%d,)' % shape[0]
    else:
        shp = '(' + ', '.join('%d' % s for s in shape) + ')'
    hdr = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shp)
    hdr += ' ' * ((64 - (10 + len(hdr) + 1) % 64) % 64) + '\n'
    with open(path, 'wb') as f:
        f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(hdr)) + hdr.encode('latin1'))
        f.write(struct.pack('<%d%s' % (len(data), fmt), *data))
