namespace GpuViT.Tests.Emulator;

/// <summary>
/// The emulator's collective operations (the mechanism under warp operations and MMA), through a
/// test operation that hands every thread the sum of the group's inputs, in hand-built descriptors.
/// </summary>
public sealed class CollectiveTests
{
    private static readonly TimeSpan s_hangGuard = TimeSpan.FromSeconds(20);

    /// <summary>Every thread gets the sum of every thread's input; an input of -1 is a misuse blamed on its thread.</summary>
    private sealed class GroupSum(string name = "Test.GroupSum") : CollectiveOperation
    {
        public override string Name { get; } = name;

        public override void Complete(object?[] inputs, object?[] outputs, CollectiveGroup group)
        {
            int sum = 0;
            for (int local = 0; local < inputs.Length; local++)
            {
                int value = (int)inputs[local]!;
                if (value == -1)
                {
                    throw new CollectiveException(local, "input -1 is refused");
                }

                sum += value;
            }

            for (int local = 0; local < outputs.Length; local++)
            {
                outputs[local] = sum;
            }
        }
    }

    private static readonly GroupSum s_sum = new();
    private static readonly GroupSum s_other = new("Test.Other");

    private static int Sum(int value) => (int)GroupContext.Require("GroupSum").Collective(s_sum, value)!;

    private static KernelDescriptor Describe(string name, KernelBody body) => new(
        name, typeof(CollectiveTests).FullName!, [new KernelParameter("output", ParameterKind.Buffer, ElementType.Int, BufferAccess.ReadWrite)],
        0, usesBarrier: true, "", "", body);

    [Fact]
    public void Every_thread_gets_the_result_of_every_round_between_barriers()
    {
        KernelDescriptor kernel = Describe("Rounds", (thread, arguments) =>
        {
            var output = (ReadWriteView<int>)arguments[0];
            int local = thread.Local.X, at = thread.Global.X * 3;
            output[at] = Sum(local);
            Group.Barrier();
            output[at + 1] = Sum(thread.Group.X);
            output[at + 2] = Sum(output[at]);
        });
        var output = new int[3 * 64 * 3];

        KernelEmulator.Launch(kernel, Int3.Size(3), Int3.Size(64), output);

        for (int group = 0; group < 3; group++)
        {
            for (int local = 0; local < 64; local++)
            {
                int at = (group * 64 + local) * 3;
                Assert.Equal([2016, 64 * group, 64 * 2016], output[at..(at + 3)]);
            }
        }
    }

    [Fact]
    public async Task A_returned_thread_is_divergence_naming_the_operation()
    {
        KernelDescriptor kernel = Describe("SomeReturn", (thread, arguments) =>
        {
            if (thread.Local.X >= 40)
            {
                return;
            }

            ((ReadWriteView<int>)arguments[0])[thread.Global.X] = Sum(1);
        });

        var error = await Assert.ThrowsAsync<KernelEmulationException>(
            () => Task.Run(() => KernelEmulator.Launch(kernel, Int3.Size(1), Int3.Size(64), new int[64])).WaitAsync(s_hangGuard));

        Assert.Contains("kernel 'SomeReturn' failed in group (0,0,0): 40 of its 64 threads reached Test.GroupSum while 24 had returned from the kernel", error.Message);
        Assert.Null(error.Thread);
    }

    [Fact]
    public async Task A_barrier_against_a_collective_is_divergence()
    {
        KernelDescriptor kernel = Describe("BarrierAgainstCollective", (thread, arguments) =>
        {
            if (thread.Local.X % 2 == 0)
            {
                Group.Barrier();
            }
            else
            {
                Sum(1);
            }
        });

        var error = await Assert.ThrowsAsync<KernelEmulationException>(
            () => Task.Run(() => KernelEmulator.Launch(kernel, Int3.Size(1), Int3.Size(32), new int[1])).WaitAsync(s_hangGuard));

        Assert.Contains("16 of its 32 threads reached Test.GroupSum while 16 waited at a Group.Barrier()", error.Message);
    }

    [Fact]
    public async Task Different_operations_are_divergence_naming_both()
    {
        KernelDescriptor kernel = Describe("TwoOperations", (thread, arguments) =>
        {
            if (thread.Local.X < 5)
            {
                Sum(1);
            }
            else
            {
                GroupContext.Require("Other").Collective(s_other, 1);
            }
        });

        var error = await Assert.ThrowsAsync<KernelEmulationException>(
            () => Task.Run(() => KernelEmulator.Launch(kernel, Int3.Size(1), Int3.Size(8), new int[1])).WaitAsync(s_hangGuard));

        Assert.Contains("thread (5,0,0) reached Test.Other where thread (0,0,0) reached Test.GroupSum", error.Message);
    }

    [Fact]
    public async Task A_fault_is_blamed_on_its_thread()
    {
        KernelDescriptor kernel = Describe("Refused", (thread, arguments) => Sum(thread.Local.X == 7 ? -1 : 1));

        var error = await Assert.ThrowsAsync<KernelEmulationException>(
            () => Task.Run(() => KernelEmulator.Launch(kernel, Int3.Size(1), Int3.Size(16), new int[1])).WaitAsync(s_hangGuard));

        Assert.Equal(new Int3(7, 0, 0), error.Thread);
        Assert.Contains("kernel 'Refused' failed in group (0,0,0), thread (7,0,0)", error.Message);
        Assert.Contains("input -1 is refused", error.Message);
    }

    [Fact]
    public async Task One_operation_on_two_element_types_is_divergence()
    {
        KernelDescriptor sums = Describe("SumsOfTwoTypes", (thread, arguments) =>
        {
            if (thread.Local.X < 32)
            {
                Warp.Sum(1f);
            }
            else
            {
                Warp.Sum(1);
            }
        });
        KernelDescriptor shuffles = Describe("ShufflesOfTwoTypes", (thread, arguments) =>
            _ = thread.Local.X < 32 ? Warp.Shuffle(1f, 0) : (float)Warp.Shuffle(1, 0));

        var sumError = await Assert.ThrowsAsync<KernelEmulationException>(
            () => Task.Run(() => KernelEmulator.Launch(sums, Int3.Size(1), Int3.Size(64), new int[1])).WaitAsync(s_hangGuard));
        var shuffleError = await Assert.ThrowsAsync<KernelEmulationException>(
            () => Task.Run(() => KernelEmulator.Launch(shuffles, Int3.Size(1), Int3.Size(64), new int[1])).WaitAsync(s_hangGuard));

        Assert.Contains("thread (32,0,0) reached Warp.Sum where thread (0,0,0) reached Warp.Sum on another element type", sumError.Message);
        Assert.Equal(new Int3(32, 0, 0), shuffleError.Thread);
        Assert.Contains("Warp.Shuffle of int where thread 0 shuffled float", shuffleError.Message);
    }
}
