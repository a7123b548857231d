namespace GpuViT.Tests.Kernels;

/// <summary>
/// The exact arithmetic of Mma without a kernel: the input roundings against independent
/// formulations, and each shape's warp-wide product against the matrices it should multiply,
/// with fragments laid out from PTX's row/column formulas.
/// </summary>
public sealed class MmaArithmeticTests
{
    [Fact]
    public void Tf32_rounds_to_nearest_with_ties_away_from_zero()
    {
        foreach (float value in Samples())
        {
            Assert.Equal(ReferenceRound(value, droppedBits: 13, tiesToEven: false), MmaFragments.Tf32Bits(BitConverter.SingleToUInt32Bits(value)));
        }

        // The tie 1 + 2^-11 lies between 1 and 1 + 2^-10: away from zero, where RNE would keep 1.
        Assert.Equal(1f + MathF.Pow(2, -10), Tf32(1f + MathF.Pow(2, -11)));
        Assert.Equal(-(1f + MathF.Pow(2, -10)), Tf32(-(1f + MathF.Pow(2, -11))));
        Assert.Equal(float.PositiveInfinity, Tf32(float.PositiveInfinity));
        Assert.True(float.IsNaN(Tf32(BitConverter.UInt32BitsToSingle(0x7F800001u))));
    }

    [Fact]
    public void Bf16_rounds_to_nearest_even()
    {
        foreach (float value in Samples())
        {
            Assert.Equal(ReferenceRound(value, droppedBits: 16, tiesToEven: true) >> 16, MmaFragments.Bf16Bits(value));
        }

        // Ties: 1 + 2^-8 lies between 1 (even) and 1 + 2^-7; 1 + 3·2^-8 between 1 + 2^-7 (odd) and 1 + 2^-6.
        Assert.Equal(0x3F80u, MmaFragments.Bf16Bits(1f + MathF.Pow(2, -8)));
        Assert.Equal(0x3F82u, MmaFragments.Bf16Bits(1f + 3 * MathF.Pow(2, -8)));
        Assert.Equal(0x7F80u, MmaFragments.Bf16Bits(float.MaxValue));
        Assert.True(float.IsNaN(MmaFragments.Bf16Value(MmaFragments.Bf16Bits(float.NaN))));
        Assert.Equal(0x3F80u | (0xC000u << 16), Mma.PackBf16(1f, -2f));
    }

    [Fact]
    public void Half_packs_low_then_high_and_every_NaN_becomes_the_quiet_NaN_of_its_sign()
    {
        Assert.Equal(0x3C00u | (0xC000u << 16), Mma.PackHalf(1f, -2f));
        Assert.Equal(0x7E00u | (0xFE00u << 16), Mma.PackHalf(BitConverter.UInt32BitsToSingle(0x7F800001u), BitConverter.UInt32BitsToSingle(0xFFC01234u)));
    }

    [Theory]
    [InlineData("tf32")]
    [InlineData("bf16")]
    [InlineData("f16")]
    public void A_warp_multiplies_the_matrices_its_fragments_hold_in_the_defined_order(string type)
    {
        MmaOperation shape = type switch { "tf32" => MmaFragments.Tf32, "bf16" => MmaFragments.Bf16, _ => MmaFragments.F16 };
        int depth = shape.Depth;
        float[] a = TestData.Random(16 * depth, 1), b = TestData.Random(depth * 8, 2), c = TestData.Random(16 * 8, 3);
        float Input(float value) => type switch
        {
            "tf32" => Tf32(value),
            "bf16" => MmaFragments.Bf16Value(MmaFragments.Bf16Bits(value)),
            _ => MmaFragments.HalfValue(MmaFragments.HalfBits(value)),
        };

        var inputs = new object?[64];
        for (int thread = 0; thread < inputs.Length; thread++)
        {
            inputs[thread] = Fragments(type, thread % 32, a, b, c);
        }

        var outputs = new object?[64];
        shape.Complete(inputs, outputs, new CollectiveGroup(64));

        for (int thread = 0; thread < outputs.Length; thread++)
        {
            int lane = thread % 32, groupId = lane >> 2, threadInGroup = lane % 4;
            var d = (float[])outputs[thread]!;
            for (int i = 0; i < 4; i++)
            {
                int row = i < 2 ? groupId : groupId + 8, column = threadInGroup * 2 + (i & 1);
                float expected = c[row * 8 + column];
                for (int k = 0; k < depth; k++)
                {
                    expected = MathF.FusedMultiplyAdd(Input(a[row * depth + k]), Input(b[k * 8 + column]), expected);
                }

                Assert.Equal(expected, d[i]);
            }
        }
    }

    [Fact]
    public void A_group_that_is_not_whole_warps_is_blamed_on_its_last_warp()
    {
        var inputs = new object?[48];
        var exception = Assert.Throws<CollectiveException>(() => MmaFragments.Tf32.Complete(inputs, new object?[48], new CollectiveGroup(48)));

        Assert.Equal(32, exception.Local);
        Assert.Contains("Mma.M16N8K8Tf32 needs whole warps of 32 threads, but the group has 48 threads", exception.Message);
    }

    /// <summary>
    /// One lane's fragments of row-major A (16 × K), B (K × 8) and C (16 × 8), written from the
    /// PTX ISA's formulas as they are printed there (not from MmaFragments' inverse mapping).
    /// </summary>
    internal static MmaThreadInput Fragments(string type, int lane, float[] a, float[] b, float[] c)
    {
        int groupId = lane >> 2, threadInGroup = lane % 4;
        var cFragment = new float[4];
        for (int i = 0; i < 4; i++)
        {
            cFragment[i] = c[(i < 2 ? groupId : groupId + 8) * 8 + threadInGroup * 2 + (i & 0x1)];
        }

        if (type == "tf32")
        {
            // row = groupID for a0 and a2, groupID + 8 for a1 and a3; col = threadID_in_group for a0 and a1, + 4 for a2 and a3.
            uint A(int row, int col) => BitConverter.SingleToUInt32Bits(a[row * 8 + col]);
            uint[] aWords = [A(groupId, threadInGroup), A(groupId + 8, threadInGroup), A(groupId, threadInGroup + 4), A(groupId + 8, threadInGroup + 4)];

            // row = threadID_in_group for b0, + 4 for b1; col = groupID.
            uint[] bWords = [BitConverter.SingleToUInt32Bits(b[threadInGroup * 8 + groupId]), BitConverter.SingleToUInt32Bits(b[(threadInGroup + 4) * 8 + groupId])];
            return new MmaThreadInput(aWords, bWords, cFragment);
        }

        Func<float, float, uint> pack = type == "bf16" ? Mma.PackBf16 : Mma.PackHalf;

        // a0..a7: row = groupID for 0 <= i < 2 || 4 <= i < 6, else groupID + 8;
        // col = threadID_in_group * 2 + (i & 0x1), + 8 for i >= 4. Word j holds a(2j) low, a(2j+1) high.
        float AElement(int i) => a[((i < 2 || (i >= 4 && i < 6)) ? groupId : groupId + 8) * 16 + threadInGroup * 2 + (i & 0x1) + (i >= 4 ? 8 : 0)];

        // b0..b3: row = threadID_in_group * 2 + (i & 0x1), + 8 for i >= 2; col = groupID.
        float BElement(int i) => b[(threadInGroup * 2 + (i & 0x1) + (i >= 2 ? 8 : 0)) * 8 + groupId];
        uint[] a16 = [pack(AElement(0), AElement(1)), pack(AElement(2), AElement(3)), pack(AElement(4), AElement(5)), pack(AElement(6), AElement(7))];
        uint[] b16 = [pack(BElement(0), BElement(1)), pack(BElement(2), BElement(3))];
        return new MmaThreadInput(a16, b16, cFragment);
    }

    private static float Tf32(float value) => BitConverter.UInt32BitsToSingle(MmaFragments.Tf32Bits(BitConverter.SingleToUInt32Bits(value)));

    /// <summary>Random floats over many binades, with ties and near-ties for each rounding.</summary>
    internal static IEnumerable<float> Samples()
    {
        var random = new Random(5);
        for (int i = 0; i < 20000; i++)
        {
            uint bits = (uint)random.Next() << 1 | (uint)random.Next(2);
            float value = BitConverter.UInt32BitsToSingle(bits);
            if (float.IsFinite(value))
            {
                yield return value;
            }

            // Ties of the 13- and 16-bit roundings, and one ulp either side.
            uint magnitude = bits & 0x7F000000u | 0x00400000u;
            foreach (uint tie in new[] { (magnitude & 0xFFFFE000u) | 0x1000u, (magnitude & 0xFFFF0000u) | 0x8000u, (magnitude & 0xFFFE0000u) | 0x18000u })
            {
                foreach (uint near in new[] { tie - 1, tie, tie + 1 })
                {
                    float sample = BitConverter.UInt32BitsToSingle(near);
                    if (float.IsFinite(sample))
                    {
                        yield return sample;
                    }
                }
            }
        }
    }

    /// <summary>Rounds away the low <paramref name="droppedBits"/> bits by comparing distances in double.</summary>
    private static uint ReferenceRound(float value, int droppedBits, bool tiesToEven)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        uint mask = ~((1u << droppedBits) - 1u);
        uint down = bits & mask, up = down + (1u << droppedBits);
        double below = Math.Abs((double)BitConverter.UInt32BitsToSingle(down));
        double above = Math.Abs(double.IsFinite(BitConverter.UInt32BitsToSingle(up)) ? (double)BitConverter.UInt32BitsToSingle(up) : Math.ScaleB(1.0, 128));
        double magnitude = Math.Abs((double)value);
        double toBelow = magnitude - below, toAbove = above - magnitude;
        if (toBelow < toAbove)
        {
            return down;
        }

        if (toAbove < toBelow)
        {
            return up;
        }

        return tiesToEven ? ((down >> droppedBits) & 1u) == 0 ? down : up : up;
    }
}
