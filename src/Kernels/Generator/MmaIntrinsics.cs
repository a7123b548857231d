namespace GpuViT.Kernels.Generator;

/// <summary>
/// The C of <c>Mma</c>: CUDA runs the tensor-core instruction (inline PTX <c>mma.sync.aligned</c>,
/// compute capability 8.0 and later); OpenCL computes the same tile in software through group-local
/// scratch, in the order the emulator uses (src/Kernels/Language/MmaFragments.cs), so that OpenCL
/// and the emulator agree bit for bit. The pack helpers are the same integer arithmetic in both
/// dialects and in C#, so they agree everywhere.
/// </summary>
/// <remarks>
/// The texts are written once with placeholders for what differs between the dialects:
/// {uint} (the unsigned type), {fn} (the helper qualifier), {as_uint} and {as_float} (bit casts).
/// </remarks>
internal static class MmaIntrinsics
{
    /// <summary>32-bit words of scratch per thread the OpenCL MMAs use: 4 of A, 2 of B.</summary>
    public const int ScratchWords = 6;

    /// <summary>
    /// PTX cvt.rna.tf32.f32 in integer arithmetic: to nearest, ties away from zero, 10 mantissa bits; a
    /// NaN is kept as it is (the hardware also clears a NaN's low 13 bits: see MmaFragments.Tf32Bits).
    /// </summary>
    private const string Tf32Bits =
        "{fn}{uint} gv_mma_tf32_bits(float value)\n" +
        "{\n" +
        "    {uint} bits = {as_uint}(value);\n" +
        "    return (bits & 0x7FFFFFFFu) > 0x7F800000u ? bits : (bits + 0x1000u) & 0xFFFFE000u;\n" +
        "}\n";

    private const string PackBf16Text =
        "{fn}{uint} gv_mma_bf16_bits(float value)\n" +
        "{\n" +
        "    {uint} bits = {as_uint}(value);\n" +
        "    if ((bits & 0x7FFFFFFFu) > 0x7F800000u)\n" +
        "    {\n" +
        "        return (bits >> 16) | 0x40u;\n" +
        "    }\n" +
        "\n" +
        "    return (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;\n" +
        "}\n" +
        "\n" +
        "{fn}{uint} gv_mma_pack_bf16(float low, float high)\n" +
        "{\n" +
        "    return gv_mma_bf16_bits(low) | (gv_mma_bf16_bits(high) << 16);\n" +
        "}\n";

    private const string PackHalfText =
        "{fn}{uint} gv_mma_half_bits(float value)\n" +
        "{\n" +
        "    {uint} bits = {as_uint}(value);\n" +
        "    {uint} sign = (bits >> 16) & 0x8000u;\n" +
        "    {uint} magnitude = bits & 0x7FFFFFFFu;\n" +
        "    if (magnitude > 0x7F800000u)\n" +
        "    {\n" +
        "        return sign | 0x7E00u;\n" +
        "    }\n" +
        "\n" +
        "    if (magnitude >= 0x477FF000u)\n" +
        "    {\n" +
        "        return sign | 0x7C00u;\n" +
        "    }\n" +
        "\n" +
        "    if (magnitude >= 0x38800000u)\n" +
        "    {\n" +
        "        {uint} rebiased = magnitude - 0x38000000u;\n" +
        "        return sign | ((rebiased + 0xFFFu + ((rebiased >> 13) & 1u)) >> 13);\n" +
        "    }\n" +
        "\n" +
        "    if (magnitude <= 0x33000000u)\n" +
        "    {\n" +
        "        return sign;\n" +
        "    }\n" +
        "\n" +
        "    {uint} mantissa = (magnitude & 0x7FFFFFu) | 0x800000u;\n" +
        "    int shift = 126 - (int)(magnitude >> 23);\n" +
        "    {uint} quotient = mantissa >> shift;\n" +
        "    {uint} remainder = mantissa & ((1u << shift) - 1u);\n" +
        "    {uint} halfway = 1u << (shift - 1);\n" +
        "    if (remainder > halfway || (remainder == halfway && (quotient & 1u) != 0u))\n" +
        "    {\n" +
        "        quotient++;\n" +
        "    }\n" +
        "\n" +
        "    return sign | quotient;\n" +
        "}\n" +
        "\n" +
        "{fn}{uint} gv_mma_pack_half(float low, float high)\n" +
        "{\n" +
        "    return gv_mma_half_bits(low) | (gv_mma_half_bits(high) << 16);\n" +
        "}\n";

    /// <summary>
    /// The software MMA's frame in OpenCL: each thread stores its 4 A and 2 B words in the scratch
    /// at its linear local index, the group waits, each lane computes its 4 D elements from its
    /// warp's words in the defined order, and the group waits again before the scratch is reused.
    /// {name}, {k}, {a_type}, {store} (A and B words as stored), {a_word} and {b_word} (where
    /// A[row, k] and B[k, column] are) and {value} (a stored word to a float) fill it in.
    /// </summary>
    private const string OpenCLMma =
        "void {name}(float* d, int di, const {a_type}* a, int ai, const {a_type}* b, int bi, __local uint* scratch)\n" +
        "{\n" +
        "    int self = " + WarpIntrinsics.OpenCLLinearLocal + ";\n" +
        "    int lane = self & 31;\n" +
        "    __local uint* warp = scratch + (self - lane) * 6;\n" +
        "    __local uint* mine = warp + lane * 6;\n" +
        "    for (int r = 0; r < 4; r++)\n" +
        "    {\n" +
        "        mine[r] = {store}(a[ai + r]);\n" +
        "    }\n" +
        "\n" +
        "    mine[4] = {store}(b[bi]);\n" +
        "    mine[5] = {store}(b[bi + 1]);\n" +
        "    barrier(CLK_LOCAL_MEM_FENCE);\n" +
        "    int group = lane >> 2;\n" +
        "    int pair = lane & 3;\n" +
        "    for (int i = 0; i < 4; i++)\n" +
        "    {\n" +
        "        int row = group + 8 * (i >> 1);\n" +
        "        int column = 2 * pair + (i & 1);\n" +
        "        float sum = d[di + i];\n" +
        "        for (int k = 0; k < {k}; k++)\n" +
        "        {\n" +
        "            sum = fma({value}(warp[{a_word}], k), {value}(warp[{b_word}], k), sum);\n" +
        "        }\n" +
        "\n" +
        "        d[di + i] = sum;\n" +
        "    }\n" +
        "\n" +
        "    barrier(CLK_LOCAL_MEM_FENCE);\n" +
        "}\n";

    /// <summary>A 16-bit MMA in CUDA: the tensor-core instruction on the packed words.</summary>
    private const string Cuda16Bit =
        "__device__ __forceinline__ void {name}(float* d, int di, const unsigned int* a, int ai, const unsigned int* b, int bi)\n" +
        "{\n" +
        "    asm volatile(\"mma.sync.aligned.m16n8k16.row.col.f32.{type}.{type}.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\"\n" +
        "        : \"+f\"(d[di]), \"+f\"(d[di + 1]), \"+f\"(d[di + 2]), \"+f\"(d[di + 3])\n" +
        "        : \"r\"(a[ai]), \"r\"(a[ai + 1]), \"r\"(a[ai + 2]), \"r\"(a[ai + 3]), \"r\"(b[bi]), \"r\"(b[bi + 1]));\n" +
        "}\n";

    public const string Tf32Name = "gv_mma_m16n8k8_tf32";
    public const string Bf16Name = "gv_mma_m16n8k16_bf16";
    public const string F16Name = "gv_mma_m16n8k16_f16";
    public const string PackBf16Name = "gv_mma_pack_bf16";
    public const string PackHalfName = "gv_mma_pack_half";

    /// <summary>The OpenCL spelling of an MMA: the helper with the scratch as its last argument.</summary>
    public static string OpenCLCall(string name) => name + "({args}, {scratch})";

    public static string PackBf16(bool cuda) => Dialect(PackBf16Text, cuda);

    public static string PackHalf(bool cuda) => Dialect(PackHalfText, cuda);

    public static string Tf32OpenCL { get; } =
        Dialect(Tf32Bits, cuda: false) + "\n" +
        Dialect(OpenCLMma, cuda: false)
            .Replace("{name}", Tf32Name)
            .Replace("{a_type}", "float")
            .Replace("{store}", "gv_mma_tf32_bits")
            .Replace("{k}", "8")
            .Replace("{value}(warp[{a_word}], k)", "as_float(warp[((row & 7) * 4 + (k & 3)) * 6 + (row >> 3) + 2 * (k >> 2)])")
            .Replace("{value}(warp[{b_word}], k)", "as_float(warp[(column * 4 + (k & 3)) * 6 + 4 + (k >> 2)])");

    public static string Bf16OpenCL { get; } = SixteenBitOpenCL(
        Bf16Name,
        "float gv_mma_bf16_value(uint bits, int k)\n" +
        "{\n" +
        "    return as_float(((bits >> (16 * (k & 1))) & 0xFFFFu) << 16);\n" +
        "}\n",
        "gv_mma_bf16_value");

    public static string F16OpenCL { get; } = SixteenBitOpenCL(
        F16Name,
        "float gv_mma_half_value(uint bits, int k)\n" +
        "{\n" +
        "    uint value = (bits >> (16 * (k & 1))) & 0xFFFFu;\n" +
        "    uint sign = (value & 0x8000u) << 16;\n" +
        "    uint exponent = (value >> 10) & 0x1Fu;\n" +
        "    uint mantissa = value & 0x3FFu;\n" +
        "    if (exponent == 0x1Fu)\n" +
        "    {\n" +
        "        return as_float(sign | 0x7F800000u | (mantissa << 13));\n" +
        "    }\n" +
        "\n" +
        "    if (exponent != 0u)\n" +
        "    {\n" +
        "        return as_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));\n" +
        "    }\n" +
        "\n" +
        "    float magnitude = (float)mantissa * 5.9604644775390625e-8f;\n" +
        "    return sign != 0u ? -magnitude : magnitude;\n" +
        "}\n",
        "gv_mma_half_value");

    public static string Tf32Cuda { get; } =
        // PTX's own conversion; the OpenCL and C# integer arithmetic reproduce its rounding.
        "__device__ __forceinline__ unsigned int gv_mma_tf32_bits(float value)\n" +
        "{\n" +
        "    unsigned int bits;\n" +
        "    asm(\"cvt.rna.tf32.f32 %0, %1;\" : \"=r\"(bits) : \"f\"(value));\n" +
        "    return bits;\n" +
        "}\n" +
        "\n" +
        "__device__ __forceinline__ void " + Tf32Name + "(float* d, int di, const float* a, int ai, const float* b, int bi)\n" +
        "{\n" +
        "    asm volatile(\"mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\"\n" +
        "        : \"+f\"(d[di]), \"+f\"(d[di + 1]), \"+f\"(d[di + 2]), \"+f\"(d[di + 3])\n" +
        "        : \"r\"(gv_mma_tf32_bits(a[ai])), \"r\"(gv_mma_tf32_bits(a[ai + 1])), \"r\"(gv_mma_tf32_bits(a[ai + 2])), \"r\"(gv_mma_tf32_bits(a[ai + 3])),\n" +
        "          \"r\"(gv_mma_tf32_bits(b[bi])), \"r\"(gv_mma_tf32_bits(b[bi + 1])));\n" +
        "}\n";

    public static string Bf16Cuda { get; } = Cuda16Bit.Replace("{name}", Bf16Name).Replace("{type}", "bf16");

    public static string F16Cuda { get; } = Cuda16Bit.Replace("{name}", F16Name).Replace("{type}", "f16");

    private static string SixteenBitOpenCL(string name, string valueFunction, string value) =>
        valueFunction + "\n" +
        Dialect(OpenCLMma, cuda: false)
            .Replace("{name}", name)
            .Replace("{a_type}", "uint")
            .Replace("{store}", string.Empty)
            .Replace("{k}", "16")
            .Replace("{a_word}", "((row & 7) * 4 + ((k & 7) >> 1)) * 6 + (row >> 3) + 2 * (k >> 3)")
            .Replace("{b_word}", "(column * 4 + ((k & 7) >> 1)) * 6 + 4 + (k >> 3)")
            .Replace("{value}", value);

    private static string Dialect(string text, bool cuda) => text
        .Replace("{fn}", cuda ? "__device__ __forceinline__ " : string.Empty)
        .Replace("{uint}", cuda ? "unsigned int" : "uint")
        .Replace("{as_uint}", cuda ? "__float_as_uint" : "as_uint")
        .Replace("{as_float}", cuda ? "__uint_as_float" : "as_float");
}
