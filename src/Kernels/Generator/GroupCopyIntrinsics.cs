namespace GpuViT.Kernels.Generator;

/// <summary>
/// The C helpers behind Group.CopyAsync and Group.WaitCopies. OpenCL C: async_work_group_copy,
/// whose copies chain on one event that the kernel body declares (so the calls stand in the
/// kernel body only, GV0026) until wait_group_events. CUDA C: on sm_80 and later, cp.async from
/// each thread for its share of the elements (16-byte chunks when both ends and the count are
/// 4-element aligned, a check that comes out the same in every thread), committed as one group
/// and waited for with cp.async.wait_all; before sm_80 plain loads and stores. The wait is also a
/// barrier in both.
/// </summary>
internal static class GroupCopyIntrinsics
{
    /// <summary>Group.CopyAsync's spelling in both dialects: the helper called with the C# arguments.</summary>
    public const string CopyAsync = "gv_copy_async";

    /// <summary>Group.WaitCopies's spelling in both dialects.</summary>
    public const string WaitCopies = "gv_wait_copies";

    /// <summary>The OpenCL kernel body's copy state: the event the copies chain on and whether one is pending.</summary>
    public const string OpenCLState = "event_t gv_copy_event;\n    int gv_copy_pending = 0;";

    /// <summary>
    /// OpenCL's helpers are macros: the event lives in the kernel body, and OpenCL C 1.2 has no
    /// overloaded functions for the three element types. A copy after the wait starts a new chain.
    /// </summary>
    public const string OpenCLPrelude =
        "// Group copies: async_work_group_copy chained on the kernel body's one event until the wait, which is also a barrier.\n" +
        "#define gv_copy_async(destination, destination_index, source, source_index, count) \\\n" +
        "    do \\\n" +
        "    { \\\n" +
        "        if (gv_copy_pending) \\\n" +
        "        { \\\n" +
        "            gv_copy_event = async_work_group_copy((destination) + (destination_index), (source) + (source_index), (size_t)(count), gv_copy_event); \\\n" +
        "        } \\\n" +
        "        else \\\n" +
        "        { \\\n" +
        "            gv_copy_event = async_work_group_copy((destination) + (destination_index), (source) + (source_index), (size_t)(count), 0); \\\n" +
        "        } \\\n" +
        "        gv_copy_pending = 1; \\\n" +
        "    } \\\n" +
        "    while (0)\n\n" +
        "#define gv_wait_copies() \\\n" +
        "    do \\\n" +
        "    { \\\n" +
        "        if (gv_copy_pending) \\\n" +
        "        { \\\n" +
        "            wait_group_events(1, &gv_copy_event); \\\n" +
        "            gv_copy_pending = 0; \\\n" +
        "        } \\\n" +
        "        barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE); \\\n" +
        "    } \\\n" +
        "    while (0)\n\n";

    /// <summary>CUDA's helpers: one template for the three element types.</summary>
    public const string CudaPrelude =
        "// Group copies: each thread copies its share; cp.async on sm_80 and later, plain loads and stores before.\n" +
        "template <typename T>\n" +
        "__device__ void gv_copy_async(T* destination, int destination_index, const T* source, int source_index, int count)\n" +
        "{\n" +
        "    int thread = " + WarpIntrinsics.CudaLinearLocal + ";\n" +
        "    int threads = (int)(blockDim.x * blockDim.y * blockDim.z);\n" +
        "    T* to = destination + destination_index;\n" +
        "    const T* from = source + source_index;\n" +
        "#if __CUDA_ARCH__ >= 800\n" +
        "    unsigned int shared = (unsigned int)__cvta_generic_to_shared(to);\n" +
        "    if ((((unsigned long long)to | (unsigned long long)from) & 15ull) == 0ull && (count & 3) == 0)\n" +
        "    {\n" +
        "        for (int i = 4 * thread; i < count; i += 4 * threads)\n" +
        "        {\n" +
        "            asm volatile(\"cp.async.cg.shared.global [%0], [%1], 16;\\n\" :: \"r\"(shared + 4u * (unsigned int)i), \"l\"(from + i) : \"memory\");\n" +
        "        }\n" +
        "    }\n" +
        "    else\n" +
        "    {\n" +
        "        for (int i = thread; i < count; i += threads)\n" +
        "        {\n" +
        "            asm volatile(\"cp.async.ca.shared.global [%0], [%1], 4;\\n\" :: \"r\"(shared + 4u * (unsigned int)i), \"l\"(from + i) : \"memory\");\n" +
        "        }\n" +
        "    }\n\n" +
        "    asm volatile(\"cp.async.commit_group;\\n\" ::: \"memory\");\n" +
        "#else\n" +
        "    for (int i = thread; i < count; i += threads)\n" +
        "    {\n" +
        "        to[i] = from[i];\n" +
        "    }\n" +
        "#endif\n" +
        "}\n\n" +
        "__device__ void gv_wait_copies()\n" +
        "{\n" +
        "#if __CUDA_ARCH__ >= 800\n" +
        "    asm volatile(\"cp.async.wait_all;\\n\" ::: \"memory\");\n" +
        "#endif\n" +
        "    __syncthreads();\n" +
        "}\n\n";
}
