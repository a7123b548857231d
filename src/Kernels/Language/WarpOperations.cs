using GpuViT.Kernels.Emulator;

namespace GpuViT.Kernels;

/// <summary>What the emulator computes for the warps of a group; see <see cref="Warp"/>.</summary>
internal static class WarpGroups
{
    /// <summary>
    /// The group's threads in whole warps, or a fault blamed on the first thread of the partial
    /// warp (a launch of a kernel marked as using warp operations is refused before this).
    /// </summary>
    public static int Count(string operation, CollectiveGroup group)
    {
        if (group.ThreadsPerGroup % Warp.Size != 0)
        {
            throw new CollectiveException(
                group.ThreadsPerGroup / Warp.Size * Warp.Size,
                $"{operation} needs a group size that is a multiple of {Warp.Size} (Warp.Size); this group has {group.ThreadsPerGroup} threads");
        }

        return group.ThreadsPerGroup / Warp.Size;
    }
}

/// <summary>Warp.Shuffle, ShuffleXor and ShuffleDown: each lane reads another lane's value.</summary>
internal sealed class WarpShuffle : CollectiveOperation
{
    private static readonly WarpShuffle[] s_operations = [new(Mode.Index), new(Mode.Xor), new(Mode.Down)];

    private readonly Mode _mode;

    private WarpShuffle(Mode mode) => _mode = mode;

    public enum Mode
    {
        /// <summary>Shuffle(value, sourceLane).</summary>
        Index,

        /// <summary>ShuffleXor(value, laneMask).</summary>
        Xor,

        /// <summary>ShuffleDown(value, delta).</summary>
        Down,
    }

    /// <summary>One thread's value (a boxed float, int or uint) and its lane argument.</summary>
    public readonly record struct Input(object Value, int Argument);

    public override string Name => _mode switch
    {
        Mode.Index => "Warp.Shuffle",
        Mode.Xor => "Warp.ShuffleXor",
        _ => "Warp.ShuffleDown",
    };

    private string ArgumentName => _mode switch
    {
        Mode.Index => "sourceLane",
        Mode.Xor => "laneMask",
        _ => "delta",
    };

    public static WarpShuffle For(Mode mode) => s_operations[(int)mode];

    public override void Complete(object?[] inputs, object?[] outputs, CollectiveGroup group)
    {
        int warps = WarpGroups.Count(Name, group);
        Type type = ((Input)inputs[0]!).Value.GetType();
        for (int thread = 0; thread < warps * Warp.Size; thread++)
        {
            var input = (Input)inputs[thread]!;
            if (input.Value.GetType() != type)
            {
                // One shuffle object serves float, int and uint: the element type is checked here.
                throw new CollectiveException(thread, $"{Name} of {TypeNames.Of(input.Value.GetType())} where thread 0 shuffled {TypeNames.Of(type)}; every thread of the group must reach the same operation");
            }

            int argument = input.Argument;
            if ((uint)argument >= Warp.Size)
            {
                // Devices give the lane modulo 32 (Shuffle) or the thread's own value (the others):
                // a kernel that relies on that is a kernel whose author meant something else.
                throw new CollectiveException(thread, $"{Name}: {ArgumentName} {argument} is outside 0..{Warp.Size - 1}");
            }

            int lane = thread % Warp.Size;
            int source = _mode switch
            {
                Mode.Index => argument,
                Mode.Xor => lane ^ argument,
                _ => lane + argument,
            };
            outputs[thread] = source < Warp.Size ? ((Input)inputs[thread - lane + source]!).Value : input.Value;
        }
    }
}

/// <summary>
/// Warp.Sum, Max and Min: the xor butterfly over lane masks 16, 8, 4, 2, 1, each lane combining
/// its value with its partner's, exactly as the OpenCL and CUDA helpers do.
/// </summary>
internal sealed class WarpReduction : CollectiveOperation
{
    public static readonly WarpReduction SumFloat = new("Warp.Sum", (x, y) => (float)x + (float)y);
    public static readonly WarpReduction SumInt = new("Warp.Sum", (x, y) => unchecked((int)x + (int)y));
    public static readonly WarpReduction MaxFloat = new("Warp.Max", (x, y) => Max((float)x, (float)y));
    public static readonly WarpReduction MinFloat = new("Warp.Min", (x, y) => Min((float)x, (float)y));

    private readonly Func<object, object, object> _combine;

    private WarpReduction(string name, Func<object, object, object> combine)
    {
        Name = name;
        _combine = combine;
    }

    public override string Name { get; }

    /// <summary>
    /// The larger, ignoring a NaN as KernelMath.Max does, with +0 above -0; commutative to the
    /// bit (two NaNs give their bits or-ed), so every lane of the butterfly ends with the same bits.
    /// </summary>
    public static float Max(float x, float y) => Pick(x, y, larger: true);

    /// <summary>The smaller, as <see cref="Max"/> with -0 below +0.</summary>
    public static float Min(float x, float y) => Pick(x, y, larger: false);

    public override void Complete(object?[] inputs, object?[] outputs, CollectiveGroup group)
    {
        int warps = WarpGroups.Count(Name, group);
        var values = new object[Warp.Size];
        var next = new object[Warp.Size];
        for (int warp = 0; warp < warps; warp++)
        {
            int first = warp * Warp.Size;
            Array.Copy(inputs, first, values, 0, Warp.Size);
            for (int mask = Warp.Size / 2; mask > 0; mask /= 2)
            {
                for (int lane = 0; lane < Warp.Size; lane++)
                {
                    next[lane] = _combine(values[lane], values[lane ^ mask]);
                }

                (values, next) = (next, values);
            }

            Array.Copy(values, 0, outputs, first, Warp.Size);
        }
    }

    private static float Pick(float x, float y, bool larger)
    {
        uint xBits = BitConverter.SingleToUInt32Bits(x), yBits = BitConverter.SingleToUInt32Bits(y);
        if (float.IsNaN(x))
        {
            return float.IsNaN(y) ? BitConverter.UInt32BitsToSingle(xBits | yBits) : y;
        }

        if (float.IsNaN(y))
        {
            return x;
        }

        if (x == y)
        {
            // Equal bits, or +0 and -0: and-ing keeps +0 (the larger), or-ing keeps -0.
            return BitConverter.UInt32BitsToSingle(larger ? xBits & yBits : xBits | yBits);
        }

        return (x > y) == larger ? x : y;
    }
}
