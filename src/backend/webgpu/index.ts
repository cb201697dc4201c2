// PLACEHOLDER: the WebGPU backend is being implemented (issue 3)
import type { Backend } from '../backend.js';
import { BackendError } from '../../errors.js';
export async function createWebGPUBackend(_device?: GPUDevice): Promise<Backend> {
  throw new BackendError('the WebGPU backend is not built yet');
}
