/** A 3-D volume in C order: index = (x * Y + y) * Z + z, shape [X, Y, Z] (LA's (W, H, D) = (x, y, z)). */
export interface Volume<T extends Float32Array | Uint8Array = Float32Array> { data: T; shape: [number, number, number]; }
export interface Case { id: string; image: Volume<Float32Array>; label: Volume<Uint8Array> | null; }
export interface CaseSource { readonly name: string; trainIds(): string[]; testIds(): string[]; load(id: string): Promise<Case>; }
