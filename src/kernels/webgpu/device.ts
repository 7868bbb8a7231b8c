import { create, globals } from 'webgpu';

/** What acquisition found: the device and a one-line report of it. */
export interface AcquiredDevice {
  device: GPUDevice;
  adapterInfo: GPUAdapterInfo;
  /** 'vulkan', 'metal', 'd3d12' or 'opengles' */
  dawnBackend: string;
  featureLevel: 'core' | 'compatibility';
  /** a CPU rasteriser (llvmpipe, lavapipe, SwiftShader) rather than a GPU: some kernel defaults differ there */
  software: boolean;
  features: ReadonlySet<string>;
  description: string;
}

export interface AcquireOptions {
  /**
   * extra Dawn options for create(), e.g. 'disable-dawn-features=timestamp_quantization'; default: the
   * space-separated list in the environment variable VOXGRAD_DAWN_OPTIONS
   */
  dawnOptions?: string[];
  /** features to request when the adapter has them (default: timestamp-query, subgroups, shader-f16) */
  wantFeatures?: GPUFeatureName[];
}

export const debianPackagesHint =
  'install the Debian packages libegl1 libgles2 libegl-mesa0 libgl1-mesa-dri for the OpenGL ES (llvmpipe) path';

let globalsInstalled = false;

/**
 * Every GPU instance create() returned. Dawn destroys an instance when V8 collects its wrapper, even while a
 * device of it is in use (then the process dies after some hundred submits with a futex/mutex assertion or
 * std::system_error), so they are kept for the life of the process.
 */
const instances: GPU[] = [];

async function tryAdapter(dawnOptions: string[], featureLevel: 'core' | 'compatibility'):
  Promise<GPUAdapter | null> {
  const gpu = create(dawnOptions);
  instances.push(gpu);
  try {
    return await gpu.requestAdapter({ featureLevel, powerPreference: 'high-performance' } as GPURequestAdapterOptions);
  } catch {
    return null;
  }
}

/**
 * Dawn's default backend first (Vulkan / Metal / D3D12), then OpenGL ES on Mesa llvmpipe in compatibility
 * mode. The device is created with the adapter's own limits (the defaults are far too small for 3-D volumes).
 */
export async function acquireDevice(options: AcquireOptions = {}): Promise<AcquiredDevice | null> {
  if (!globalsInstalled) { Object.assign(globalThis, globals); globalsInstalled = true; }
  const extra = options.dawnOptions ?? (process.env.VOXGRAD_DAWN_OPTIONS ?? '').split(/\s+/).filter(Boolean);
  let adapter = await tryAdapter(extra, 'core');
  let dawnBackend = '';
  let featureLevel: 'core' | 'compatibility' = 'core';
  if (adapter && isSoftwareVulkan(adapter)) adapter = null;
  if (!adapter) {
    process.env.EGL_PLATFORM ??= 'surfaceless';
    adapter = await tryAdapter(['backend=opengles', ...extra], 'compatibility');
    featureLevel = 'compatibility';
    dawnBackend = 'opengles';
  }
  if (!adapter) return null;
  const info = adapter.info;
  if (!dawnBackend) dawnBackend = backendOf(info);
  const limits: Record<string, number> = {};
  for (const name of limitNames) {
    const value = (adapter.limits as unknown as Record<string, number | undefined>)[name];
    if (typeof value === 'number') limits[name] = value;
  }
  const wanted = options.wantFeatures ?? (['timestamp-query', 'subgroups', 'shader-f16'] as GPUFeatureName[]);
  const features = wanted.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits: limits, requiredFeatures: features });
  const name = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') || 'unknown adapter';
  return {
    device,
    adapterInfo: info,
    dawnBackend,
    featureLevel,
    software: softwareAdapterText(info) !== null,
    features: new Set(features),
    description: `webgpu: ${name} via ${dawnBackend}, ${featureLevel} feature level`,
  };
}

function backendOf(info: GPUAdapterInfo): string {
  const text = `${info.description} ${(info as unknown as { backendType?: string }).backendType ?? ''}`.toLowerCase();
  for (const b of ['vulkan', 'metal', 'd3d12', 'opengles', 'opengl']) if (text.includes(b)) return b;
  return 'default';
}

/** The software rasteriser an adapter is, by name, or null for a GPU. */
function softwareAdapterText(info: GPUAdapterInfo): string | null {
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  return ['llvmpipe', 'lavapipe', 'swiftshader'].find((name) => text.includes(name)) ?? null;
}

/** Lavapipe (Mesa's software Vulkan) is refused by Dawn in most builds; never prefer it over llvmpipe GL. */
function isSoftwareVulkan(adapter: GPUAdapter): boolean {
  const name = softwareAdapterText(adapter.info);
  return name === 'lavapipe' || name === 'swiftshader';
}

const limitNames = [
  'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ', 'maxComputeWorkgroupsPerDimension', 'maxStorageBuffersPerShaderStage',
  'maxUniformBufferBindingSize', 'maxBindGroups', 'maxBindingsPerBindGroup',
];
