namespace GpuViT.Kernels;

/// <summary>
/// What <see cref="Mma"/> computes, exactly: the fragment layouts of PTX's m16n8k8 (TF32) and
/// m16n8k16 (BF16, FP16) shapes, the input roundings, and the one accumulation order the emulator
/// and the OpenCL spelling share (generator: MmaIntrinsics.cs; the two must stay the same).
/// </summary>
/// <remarks>
/// In a warp, lane = linear local index mod 32, groupID = lane &gt;&gt; 2, threadID_in_group = lane % 4.
/// D (and C), 16 × 8 fp32: d[i] is row groupID + 8·(i &gt;&gt; 1), column 2·threadID_in_group + (i &amp; 1).
/// TF32 A, 16 × 8: a[i] is row groupID + 8·(i &amp; 1), column threadID_in_group + 4·(i &gt;&gt; 1);
/// B, 8 × 8: b[i] is row threadID_in_group + 4·i, column groupID.
/// 16-bit A, 16 × 16: word r, half h (low first) is row groupID + 8·(r &amp; 1), column
/// 2·threadID_in_group + h + 8·(r &gt;&gt; 1); B, 16 × 8: word r, half h is row
/// 2·threadID_in_group + h + 8·r, column groupID.
/// Each D element is c, then for k = 0, 1, ...: d = fma(A[row, k], B[k, column], d) in fp32. The
/// products of these input types are exact in fp32, so the fma is one rounding per step, as a
/// separate multiply and add would be.
/// </remarks>
internal static class MmaFragments
{
    public const int WarpSize = Warp.Size;

    /// <summary>Registers per thread: A words, B words, D floats (the same for the three shapes).</summary>
    public const int AWords = 4, BWords = 2, DFloats = 4;

    public static readonly MmaOperation Tf32 = new("Mma.M16N8K8Tf32", 8, MmaInput.Tf32);
    public static readonly MmaOperation Bf16 = new("Mma.M16N8K16Bf16", 16, MmaInput.Bf16);
    public static readonly MmaOperation F16 = new("Mma.M16N8K16F16", 16, MmaInput.F16);

    /// <summary>One thread's part of an MMA: hands its fragments to the warp and takes its D back.</summary>
    public static void Run(MmaOperation shape, Span<float> d, int dIndex, uint[] a, uint[] b)
    {
        CheckRange(d.Length, dIndex, DFloats, "d", shape.Name);
        var input = new MmaThreadInput(a, b, d.Slice(dIndex, DFloats).ToArray());
        var output = (float[])GroupContext.Collective(shape, input)!;
        output.CopyTo(d.Slice(dIndex, DFloats));
    }

    public static void CheckRange(int length, int index, int count, string fragment, string operation)
    {
        if (index < 0 || (long)index + count > length)
        {
            throw new IndexOutOfRangeException(
                $"{operation}: fragment '{fragment}' takes {count} elements from index {index}, but its register array has {length}");
        }
    }

    /// <summary>
    /// PTX cvt.rna.tf32.f32: to nearest with ties away from zero, keeping 10 mantissa bits (the low 13
    /// bits become 0). A NaN is kept as it is here; the hardware (sm_86's machine code) clears its low 13
    /// bits too, so a NaN whose payload lies only there becomes ±infinity on a GPU. NaNs that arithmetic
    /// makes have the quiet bit set and stay NaN in both.
    /// </summary>
    public static uint Tf32Bits(uint bits) =>
        (bits & 0x7FFFFFFFu) > 0x7F800000u ? bits : (bits + 0x1000u) & 0xFFFFE000u;

    /// <summary>A float's bfloat16 bits, rounded to nearest with ties to even; NaN becomes a quiet NaN of the same sign (the BFloat16 conversion).</summary>
    public static uint Bf16Bits(float value) => ((BFloat16)value).Bits;

    /// <summary>
    /// A float's IEEE half bits, rounded to nearest with ties to even (.NET's Half conversion); a
    /// NaN becomes the quiet NaN of its sign, 0x7E00, as the C pack helpers make it.
    /// </summary>
    public static uint HalfBits(float value) => float.IsNaN(value)
        ? (BitConverter.SingleToUInt32Bits(value) >> 16 & 0x8000u) | 0x7E00u
        : BitConverter.HalfToUInt16Bits((Half)value);

    /// <summary>The float (exactly) of bfloat16 bits, the low 16 of <paramref name="bits"/>.</summary>
    public static float Bf16Value(uint bits) => (float)BFloat16.FromBits((ushort)bits);

    /// <summary>The float (exactly) of IEEE half bits, the low 16 of <paramref name="bits"/>.</summary>
    public static float HalfValue(uint bits) => (float)BitConverter.UInt16BitsToHalf((ushort)bits);
}

/// <summary>How a shape's A and B words hold their values.</summary>
internal enum MmaInput
{
    /// <summary>One fp32 per word, rounded to TF32 by the operation.</summary>
    Tf32,

    /// <summary>Two bfloat16 per word, low half first.</summary>
    Bf16,

    /// <summary>Two IEEE halves per word, low half first.</summary>
    F16,
}

/// <summary>One thread's fragments as it hands them in: its A and B words and its 4 accumulators.</summary>
internal sealed record MmaThreadInput(uint[] A, uint[] B, float[] C);

/// <summary>One MMA shape as a collective operation: a warp's fragments in, each lane's D out.</summary>
internal sealed class MmaOperation(string name, int depth, MmaInput input) : CollectiveOperation
{
    public override string Name { get; } = name;

    /// <summary>K: the depth of the product (8 for TF32, 16 for the 16-bit types).</summary>
    public int Depth { get; } = depth;

    public MmaInput Input { get; } = input;

    public override void Complete(object?[] inputs, object?[] outputs, CollectiveGroup group)
    {
        int size = group.ThreadsPerGroup;
        if (size % MmaFragments.WarpSize != 0)
        {
            throw new CollectiveException(size - size % MmaFragments.WarpSize,
                $"{Name} needs whole warps of {MmaFragments.WarpSize} threads, but the group has {size} threads " +
                $"(its last warp has {size % MmaFragments.WarpSize}); launch groups of a multiple of 32 threads");
        }

        for (int warp = 0; warp < size; warp += MmaFragments.WarpSize)
        {
            var lanes = new MmaThreadInput[MmaFragments.WarpSize];
            for (int lane = 0; lane < lanes.Length; lane++)
            {
                lanes[lane] = (MmaThreadInput)inputs[warp + lane]!;
            }

            for (int lane = 0; lane < lanes.Length; lane++)
            {
                outputs[warp + lane] = Multiply(lanes, lane);
            }
        }
    }

    /// <summary>Lane <paramref name="lane"/>'s four D elements, each accumulated over k in order.</summary>
    public float[] Multiply(MmaThreadInput[] lanes, int lane)
    {
        int groupId = lane >> 2, threadInGroup = lane & 3;
        var d = new float[MmaFragments.DFloats];
        for (int i = 0; i < d.Length; i++)
        {
            int row = groupId + 8 * (i >> 1), column = 2 * threadInGroup + (i & 1);
            float sum = lanes[lane].C[i];
            for (int k = 0; k < Depth; k++)
            {
                sum = MathF.FusedMultiplyAdd(A(lanes, row, k), B(lanes, k, column), sum);
            }

            d[i] = sum;
        }

        return d;
    }

    /// <summary>A[row, k] from the lane and register that hold it.</summary>
    public float A(MmaThreadInput[] lanes, int row, int k) => Input == MmaInput.Tf32
        ? Value(lanes[(row & 7) * 4 + (k & 3)].A[(row >> 3) + 2 * (k >> 2)], 0)
        : Value(lanes[(row & 7) * 4 + ((k & 7) >> 1)].A[(row >> 3) + 2 * (k >> 3)], k & 1);

    /// <summary>B[k, column] from the lane and register that hold it.</summary>
    public float B(MmaThreadInput[] lanes, int k, int column) => Input == MmaInput.Tf32
        ? Value(lanes[column * 4 + (k & 3)].B[k >> 2], 0)
        : Value(lanes[column * 4 + ((k & 7) >> 1)].B[k >> 3], k & 1);

    private float Value(uint word, int half) => Input switch
    {
        MmaInput.Tf32 => BitConverter.UInt32BitsToSingle(MmaFragments.Tf32Bits(word)),
        MmaInput.Bf16 => MmaFragments.Bf16Value(word >> (16 * half)),
        _ => MmaFragments.HalfValue(word >> (16 * half)),
    };
}
