namespace GpuViT.Kernels.Generator;

/// <summary>
/// The C helpers behind the Warp intrinsics and the thread's lane and warp index. OpenCL C 1.2
/// has no sub-groups, so a warp operation there is an exact emulation: every work-item writes its
/// value to the group's scratch words, a barrier, reads its source lane's word, a barrier. CUDA
/// uses the shuffle instructions. The reductions are the xor butterfly (lane masks 16, 8, 4, 2, 1)
/// in both, as in the emulator, so all three agree to the bit.
/// </summary>
internal static class WarpIntrinsics
{
    /// <summary>The thread's linear local index, X fastest, in OpenCL C (OpenCL 1.2 has no get_local_linear_id).</summary>
    public const string OpenCLLinearLocal = "(int)((get_local_id(2) * get_local_size(1) + get_local_id(1)) * get_local_size(0) + get_local_id(0))";

    /// <summary>The thread's linear local index, X fastest, in CUDA C: warps are 32 consecutive ones.</summary>
    public const string CudaLinearLocal = "(int)((threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x)";

    /// <summary>thread.Lane in OpenCL C: the linear local index modulo 32.</summary>
    public const string OpenCLLane = "(" + OpenCLLinearLocal + " & 31)";

    /// <summary>thread.Warp in OpenCL C: the linear local index divided by 32.</summary>
    public const string OpenCLWarp = "(" + OpenCLLinearLocal + " >> 5)";

    /// <summary>thread.Lane in CUDA C.</summary>
    public const string CudaLane = "(" + CudaLinearLocal + " & 31)";

    /// <summary>thread.Warp in CUDA C.</summary>
    public const string CudaWarp = "(" + CudaLinearLocal + " >> 5)";

    /// <summary>CUDA's shuffles over the whole warp (mask of all 32 lanes, width 32).</summary>
    public const string CudaShuffle = "__shfl_sync(0xffffffffu, {args})";

    public const string CudaShuffleXor = "__shfl_xor_sync(0xffffffffu, {args})";

    public const string CudaShuffleDown = "__shfl_down_sync(0xffffffffu, {args})";

    /// <summary>An OpenCL spelling: the helper for one operation and element type, given the group's scratch words.</summary>
    public static string OpenCL(string operation, string element) => "gv_warp_" + operation + "_" + element + "({scratch}, {args})";

    /// <summary>A CUDA spelling of a reduction helper.</summary>
    public static string Cuda(string operation, string element) => "gv_warp_" + operation + "_" + element + "({args})";

    /// <summary>
    /// Every OpenCL helper, one text for all Warp rows so that a program holds it once. The source
    /// lane follows PTX's shfl.sync: Shuffle takes it modulo 32; ShuffleXor and ShuffleDown keep the
    /// thread's own value when the source is past lane 31 (the emulator refuses arguments outside 0..31).
    /// </summary>
    public static readonly string OpenCLPrelude =
        "// Warp operations: 32 lanes by linear local index. OpenCL 1.2 has no sub-groups, so each exchange\n" +
        "// goes through the group's scratch words between two barriers, which every work-item reaches.\n" +
        "uint gv_warp_read(__local uint* scratch, uint value, uint source_lane)\n" +
        "{\n" +
        "    int linear = " + OpenCLLinearLocal + ";\n" +
        "    scratch[linear] = value;\n" +
        "    barrier(CLK_LOCAL_MEM_FENCE);\n" +
        "    uint result = source_lane < 32u ? scratch[(linear & ~31) + (int)source_lane] : value;\n" +
        "    barrier(CLK_LOCAL_MEM_FENCE);\n" +
        "    return result;\n" +
        "}\n\n" +
        "uint gv_warp_lane(void)\n" +
        "{\n" +
        "    return (uint)" + OpenCLLinearLocal + " & 31u;\n" +
        "}\n\n" +
        "uint gv_warp_shuffle_uint(__local uint* scratch, uint value, int source_lane) { return gv_warp_read(scratch, value, (uint)source_lane & 31u); }\n" +
        "uint gv_warp_shuffle_xor_uint(__local uint* scratch, uint value, int lane_mask) { return gv_warp_read(scratch, value, gv_warp_lane() ^ (uint)lane_mask); }\n" +
        "uint gv_warp_shuffle_down_uint(__local uint* scratch, uint value, int delta) { return gv_warp_read(scratch, value, gv_warp_lane() + (uint)delta); }\n" +
        "int gv_warp_shuffle_int(__local uint* scratch, int value, int source_lane) { return as_int(gv_warp_shuffle_uint(scratch, as_uint(value), source_lane)); }\n" +
        "int gv_warp_shuffle_xor_int(__local uint* scratch, int value, int lane_mask) { return as_int(gv_warp_shuffle_xor_uint(scratch, as_uint(value), lane_mask)); }\n" +
        "int gv_warp_shuffle_down_int(__local uint* scratch, int value, int delta) { return as_int(gv_warp_shuffle_down_uint(scratch, as_uint(value), delta)); }\n" +
        "float gv_warp_shuffle_float(__local uint* scratch, float value, int source_lane) { return as_float(gv_warp_shuffle_uint(scratch, as_uint(value), source_lane)); }\n" +
        "float gv_warp_shuffle_xor_float(__local uint* scratch, float value, int lane_mask) { return as_float(gv_warp_shuffle_xor_uint(scratch, as_uint(value), lane_mask)); }\n" +
        "float gv_warp_shuffle_down_float(__local uint* scratch, float value, int delta) { return as_float(gv_warp_shuffle_down_uint(scratch, as_uint(value), delta)); }\n\n" +
        Pick(string.Empty, "uint", "as_float", "as_uint") +
        "// Reductions: the xor butterfly, each lane combining its value with its partner's.\n" +
        "float gv_warp_sum_float(__local uint* scratch, float value)\n" +
        "{\n" +
        "    for (int mask = 16; mask > 0; mask >>= 1)\n" +
        "    {\n" +
        "        value = value + gv_warp_shuffle_xor_float(scratch, value, mask);\n" +
        "    }\n\n" +
        "    return value;\n" +
        "}\n\n" +
        "int gv_warp_sum_int(__local uint* scratch, int value)\n" +
        "{\n" +
        "    for (int mask = 16; mask > 0; mask >>= 1)\n" +
        "    {\n" +
        "        value = as_int(as_uint(value) + gv_warp_shuffle_xor_uint(scratch, as_uint(value), mask));\n" +
        "    }\n\n" +
        "    return value;\n" +
        "}\n\n" +
        "float gv_warp_max_float(__local uint* scratch, float value)\n" +
        "{\n" +
        "    for (int mask = 16; mask > 0; mask >>= 1)\n" +
        "    {\n" +
        "        value = gv_warp_pick(value, gv_warp_shuffle_xor_float(scratch, value, mask), 1);\n" +
        "    }\n\n" +
        "    return value;\n" +
        "}\n\n" +
        "float gv_warp_min_float(__local uint* scratch, float value)\n" +
        "{\n" +
        "    for (int mask = 16; mask > 0; mask >>= 1)\n" +
        "    {\n" +
        "        value = gv_warp_pick(value, gv_warp_shuffle_xor_float(scratch, value, mask), 0);\n" +
        "    }\n\n" +
        "    return value;\n" +
        "}\n\n";

    /// <summary>Every CUDA helper (the reductions), one text for all Warp rows.</summary>
    public static readonly string CudaPrelude =
        "// Warp reductions: the xor butterfly, each lane combining its value with its partner's.\n" +
        Pick("__device__ ", "unsigned int", "__uint_as_float", "__float_as_uint") +
        "__device__ float gv_warp_sum_float(float value)\n" +
        "{\n" +
        "    for (int mask = 16; mask > 0; mask >>= 1)\n" +
        "    {\n" +
        "        value = value + __shfl_xor_sync(0xffffffffu, value, mask);\n" +
        "    }\n\n" +
        "    return value;\n" +
        "}\n\n" +
        "__device__ int gv_warp_sum_int(int value)\n" +
        "{\n" +
        "    for (int mask = 16; mask > 0; mask >>= 1)\n" +
        "    {\n" +
        "        value = (int)((unsigned int)value + (unsigned int)__shfl_xor_sync(0xffffffffu, value, mask));\n" +
        "    }\n\n" +
        "    return value;\n" +
        "}\n\n" +
        "__device__ float gv_warp_max_float(float value)\n" +
        "{\n" +
        "    for (int mask = 16; mask > 0; mask >>= 1)\n" +
        "    {\n" +
        "        value = gv_warp_pick(value, __shfl_xor_sync(0xffffffffu, value, mask), 1);\n" +
        "    }\n\n" +
        "    return value;\n" +
        "}\n\n" +
        "__device__ float gv_warp_min_float(float value)\n" +
        "{\n" +
        "    for (int mask = 16; mask > 0; mask >>= 1)\n" +
        "    {\n" +
        "        value = gv_warp_pick(value, __shfl_xor_sync(0xffffffffu, value, mask), 0);\n" +
        "    }\n\n" +
        "    return value;\n" +
        "}\n\n";

    // Max and Min of a pair as the emulator's WarpReduction.Pick: a NaN is ignored (two NaNs give
    // their bits or-ed), +0 is above -0; commutative to the bit, so every lane ends equal.
    private static string Pick(string qualifier, string uintType, string asFloat, string asUint) =>
        "// The larger (larger = 1) or smaller of two floats, ignoring a NaN, with +0 above -0.\n" +
        qualifier + "float gv_warp_pick(float x, float y, int larger)\n" +
        "{\n" +
        "    " + uintType + " x_bits = " + asUint + "(x), y_bits = " + asUint + "(y);\n" +
        "    int x_nan = (x_bits & 0x7fffffffu) > 0x7f800000u, y_nan = (y_bits & 0x7fffffffu) > 0x7f800000u;\n" +
        "    if (x_nan)\n" +
        "    {\n" +
        "        return y_nan ? " + asFloat + "(x_bits | y_bits) : y;\n" +
        "    }\n\n" +
        "    if (y_nan)\n" +
        "    {\n" +
        "        return x;\n" +
        "    }\n\n" +
        "    if (x == y)\n" +
        "    {\n" +
        "        return " + asFloat + "(larger ? (x_bits & y_bits) : (x_bits | y_bits));\n" +
        "    }\n\n" +
        "    return (int)(x > y) == larger ? x : y;\n" +
        "}\n\n";
}
