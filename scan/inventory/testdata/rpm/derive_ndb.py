# Derives a small ndb Packages.db from a real one: the header and slot page
# are kept, the slots of the packages named on the command line keep their
# blobs (copied byte for byte, blob header and checksum included), every
# other slot is made free.
import struct, sys
src, dst, keep = sys.argv[1], sys.argv[2], {int(a) for a in sys.argv[3:]}
d = open(src, 'rb').read()
magic, ver, gen, npages = struct.unpack('<4I', d[:16])
out = bytearray(d[:npages * 4096])
blobs = bytearray()
for off in range(32, npages * 4096, 16):
    m, pkg, bo, bc = struct.unpack('<4I', d[off:off + 16])
    if pkg in keep:
        newoff = (npages * 4096 + len(blobs)) // 16
        blobs += d[bo * 16:(bo + bc) * 16]
        out[off:off + 16] = struct.pack('<4I', m, pkg, newoff, bc)
    else:
        out[off:off + 16] = struct.pack('<4I', m, 0, 0, 0)
open(dst, 'wb').write(bytes(out + blobs))
