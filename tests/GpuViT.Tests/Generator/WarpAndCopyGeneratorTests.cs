using System.Globalization;
using static GpuViT.Tests.Generator.GeneratorHarness;

namespace GpuViT.Tests.Generator;

/// <summary>What the generator accepts and emits for warp operations and group copies, beyond the diagnostics.</summary>
public sealed class WarpAndCopyGeneratorTests
{
    [Fact]
    public void Warp_operations_that_every_thread_evaluates_are_accepted_anywhere()
    {
        Result result = Run(Kernel("""
            float s = Warp.Sum(a[i]) > 0f && i > 3 ? 1f : 0f;
            if (Warp.Max(a[i]) > 1f)
            {
                s += Warp.ShuffleXor(s, 1);
            }

            for (int k = 0; k < Warp.Sum(n); k++)
            {
                s += Warp.Min(a[i]);
            }

            b[i] = s;
            """));

        Assert.Empty(result.GeneratorDiagnostics);
        Assert.Empty(result.CompilationErrors);
        string openCL = result.KernelSource("openCLSource");
        Assert.Contains("float s = gv_warp_sum_float(gv_scratch, a[i]) > 0.0f && i > 3 ? 1.0f : 0.0f;", openCL);
        Assert.Contains("for (int k = 0; k < gv_warp_sum_int(gv_scratch, n); k++)", openCL);
        Assert.Contains("s += __shfl_xor_sync(0xffffffffu, s, 1);", result.KernelSource("cudaSource"));
        Assert.Contains("UsesWarp = true", result.Catalog);
    }

    [Fact]
    public void Misuse_messages_say_what_to_write_instead()
    {
        Assert.Equal(
            "'Warp.Sum(a[i])' is evaluated by only some threads (the right operand of '&&'); every thread of the group must reach " +
            "every warp operation together, so call it unconditionally into a local first (float s = Warp.Sum(v);) and use the local there",
            Message(Kernel("bool big = i > 3 && Warp.Sum(a[i]) > 1f;")));
        Assert.Equal(
            "'Group.WaitCopies()' is in a device function (the copies' state lives in the kernel body: call it there); " +
            "Group.CopyAsync(...) and Group.WaitCopies() are statements of their own in a kernel body, reached by every thread of the group",
            Message(Kernel("Wait();", members: "[DeviceFunction] public static void Wait() { Group.WaitCopies(); }")));
        Assert.StartsWith("'Group.WaitCopies()' is inside an expression; ", Message(Kernel("for (int k = 0; k < n; k++, Group.WaitCopies()) { }")));
    }

    private static string Message(string source) => Assert.Single(Run(source).GeneratorDiagnostics).GetMessage(CultureInfo.InvariantCulture);

    [Fact]
    public void Lane_and_warp_alone_need_neither_whole_warps_nor_the_barrier_runner()
    {
        Result result = Run(Kernel("b[i] = (float)(thread.Lane + 100 * thread.Warp);"));

        Assert.Empty(result.GeneratorDiagnostics);
        Assert.DoesNotContain("UsesWarp", result.Catalog);
        Assert.Contains("usesBarrier: false", result.Catalog);
        Assert.Contains("b[i] = (float)(((int)((threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x) & 31) + 100 * " +
            "((int)((threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x) >> 5));", result.KernelSource("cudaSource"));
        Assert.DoesNotContain("gv_scratch", result.KernelSource("openCLSource"));
    }

    [Fact]
    public void Group_copies_stand_in_nested_blocks_of_the_kernel_body_and_keep_the_macros_names_free()
    {
        Result result = Run(Kernel("""
            var tile = Group.Shared<float>(64);
            int async_work_group_copy = 2;
            for (int t = 0; t < n; t++)
            {
                if (t % async_work_group_copy == 0)
                {
                    Group.CopyAsync(tile, 0, a, 64 * t, 64);
                }

                Group.WaitCopies();
            }

            b[i] = tile[0];
            """));

        Assert.Empty(result.GeneratorDiagnostics);
        string openCL = result.KernelSource("openCLSource");
        Assert.Contains("    __local float tile[64];\n    event_t gv_copy_event;\n    int gv_copy_pending = 0;\n", openCL);
        Assert.Contains("int async_work_group_copy_ = 2;", openCL);
        Assert.Contains("            gv_copy_async(tile, 0, a, 64 * t, 64);\n", openCL);
        Assert.Contains("        gv_wait_copies();\n", result.KernelSource("cudaSource"));
        Assert.Contains("usesBarrier: true", result.Catalog);
        Assert.DoesNotContain("UsesWarp", result.Catalog);
    }
}
