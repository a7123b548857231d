namespace GpuViT.Kernels.Generator;

/// <summary>
/// The C helpers behind Async.Copy4, Async.Copy8, Async.Commit and Async.Wait (per-thread
/// asynchronous copies of 16 bytes). CUDA C: on sm_80 and later, <c>cp.async.cg.shared.global</c>
/// with a source size (bytes past it are zero-filled), <c>cp.async.commit_group</c> and
/// <c>cp.async.wait_group</c>; before sm_80 plain loads and stores and no-ops, so the rows need no
/// minimum compute capability. OpenCL C 1.2 has no per-thread asynchronous copy: plain loads and
/// stores with the same zero fill, and Commit and Wait do nothing (the same results, no overlap).
/// Shared arrays of a kernel that uses them are declared 16-byte aligned (KernelTranslation).
/// </summary>
internal static class AsyncCopyIntrinsics
{
    public const string Copy4 = "gv_async_copy4";
    public const string Copy8Cuda = "gv_async_copy8";
    public const string Copy8BFloat16OpenCL = "gv_async_copy8_bf16";
    public const string Copy8HalfOpenCL = "gv_async_copy8_half";
    public const string Commit = "gv_async_commit";
    public const string Wait = "gv_async_wait";

    public const string CudaPrelude =
        "// Per-thread asynchronous copies: cp.async of 16 bytes, zero-filled past the valid ones, on sm_80 and later; plain loads and stores before.\n" +
        "__device__ __forceinline__ void gv_async_copy4(float* destination, int destination_index, const float* source, int source_index, int valid)\n" +
        "{\n" +
        "#if __CUDA_ARCH__ >= 800\n" +
        "    unsigned int shared = (unsigned int)__cvta_generic_to_shared(destination + destination_index);\n" +
        "    asm volatile(\"cp.async.cg.shared.global [%0], [%1], 16, %2;\\n\" :: \"r\"(shared), \"l\"(source + source_index), \"r\"(4 * valid) : \"memory\");\n" +
        "#else\n" +
        "    for (int i = 0; i < 4; i++)\n" +
        "    {\n" +
        "        destination[destination_index + i] = i < valid ? source[source_index + i] : 0.0f;\n" +
        "    }\n" +
        "#endif\n" +
        "}\n\n" +
        "__device__ __forceinline__ void gv_async_copy8(unsigned int* destination, int destination_index, const unsigned short* source, int source_index, int valid)\n" +
        "{\n" +
        "#if __CUDA_ARCH__ >= 800\n" +
        "    unsigned int shared = (unsigned int)__cvta_generic_to_shared(destination + destination_index);\n" +
        "    asm volatile(\"cp.async.cg.shared.global [%0], [%1], 16, %2;\\n\" :: \"r\"(shared), \"l\"(source + source_index), \"r\"(2 * valid) : \"memory\");\n" +
        "#else\n" +
        "    for (int j = 0; j < 4; j++)\n" +
        "    {\n" +
        "        unsigned int low = 2 * j < valid ? (unsigned int)source[source_index + 2 * j] : 0u;\n" +
        "        unsigned int high = 2 * j + 1 < valid ? (unsigned int)source[source_index + 2 * j + 1] : 0u;\n" +
        "        destination[destination_index + j] = low | (high << 16);\n" +
        "    }\n" +
        "#endif\n" +
        "}\n\n" +
        "__device__ __forceinline__ void gv_async_commit()\n" +
        "{\n" +
        "#if __CUDA_ARCH__ >= 800\n" +
        "    asm volatile(\"cp.async.commit_group;\\n\" ::: \"memory\");\n" +
        "#endif\n" +
        "}\n\n" +
        "// cp.async.wait_group takes an immediate: with a constant argument the switch folds to one instruction; past 7 it waits for more than asked.\n" +
        "__device__ __forceinline__ void gv_async_wait(int pending)\n" +
        "{\n" +
        "#if __CUDA_ARCH__ >= 800\n" +
        "    switch (pending < 0 ? 0 : pending > 7 ? 7 : pending)\n" +
        "    {\n" +
        "        case 0: asm volatile(\"cp.async.wait_group 0;\\n\" ::: \"memory\"); break;\n" +
        "        case 1: asm volatile(\"cp.async.wait_group 1;\\n\" ::: \"memory\"); break;\n" +
        "        case 2: asm volatile(\"cp.async.wait_group 2;\\n\" ::: \"memory\"); break;\n" +
        "        case 3: asm volatile(\"cp.async.wait_group 3;\\n\" ::: \"memory\"); break;\n" +
        "        case 4: asm volatile(\"cp.async.wait_group 4;\\n\" ::: \"memory\"); break;\n" +
        "        case 5: asm volatile(\"cp.async.wait_group 5;\\n\" ::: \"memory\"); break;\n" +
        "        case 6: asm volatile(\"cp.async.wait_group 6;\\n\" ::: \"memory\"); break;\n" +
        "        default: asm volatile(\"cp.async.wait_group 7;\\n\" ::: \"memory\"); break;\n" +
        "    }\n" +
        "#endif\n" +
        "}\n\n";

    public const string OpenCLPrelude =
        "// Per-thread asynchronous copies: OpenCL 1.2 has none, so plain loads and stores with the same zero fill; commit and wait do nothing.\n" +
        "void gv_async_copy4(__local float* destination, int destination_index, __global const float* source, int source_index, int valid)\n" +
        "{\n" +
        "    for (int i = 0; i < 4; i++)\n" +
        "    {\n" +
        "        destination[destination_index + i] = i < valid ? source[source_index + i] : 0.0f;\n" +
        "    }\n" +
        "}\n\n" +
        "void gv_async_copy8_bf16(__local uint* destination, int destination_index, __global const ushort* source, int source_index, int valid)\n" +
        "{\n" +
        "    for (int j = 0; j < 4; j++)\n" +
        "    {\n" +
        "        uint low = 2 * j < valid ? (uint)source[source_index + 2 * j] : 0u;\n" +
        "        uint high = 2 * j + 1 < valid ? (uint)source[source_index + 2 * j + 1] : 0u;\n" +
        "        destination[destination_index + j] = low | (high << 16);\n" +
        "    }\n" +
        "}\n\n" +
        "// A half is only a pointer target in OpenCL 1.2 without cl_khr_fp16: its bits are read as ushort.\n" +
        "void gv_async_copy8_half(__local uint* destination, int destination_index, __global const half* source, int source_index, int valid)\n" +
        "{\n" +
        "    gv_async_copy8_bf16(destination, destination_index, (__global const ushort*)source, source_index, valid);\n" +
        "}\n\n" +
        "void gv_async_commit(void)\n" +
        "{\n" +
        "}\n\n" +
        "void gv_async_wait(int pending)\n" +
        "{\n" +
        "}\n\n";
}
