/** C-order index of voxel (x, y, z) in a volume of shape [X, Y, Z] (z fastest), written out for the tests. */
export const idx = (s: readonly number[], x: number, y: number, z: number): number => (x * s[1] + y) * s[2] + z;
