namespace GpuViT.Kernels.Runtime;

/// <summary>
/// One backend as <see cref="Devices"/> sees it: its selector, its devices, how it opens one and
/// what it offers <c>auto</c>. Each backend's folder has one subclass, which adds itself with
/// <see cref="Register"/> from a module initializer; the runtime's core names no backend.
/// </summary>
/// <remarks>
/// A module initializer, not a search of the assembly's types by reflection: registration stays
/// one visible line beside each backend, costs no type scan at start-up, and survives trimming
/// (the kernel catalog registers itself the same way).
/// </remarks>
internal abstract class DeviceBackend
{
    private static readonly List<DeviceBackend> s_registered = new();

    /// <summary>Every registered backend, in <see cref="Order"/>: the order of discovery and of <c>auto</c>'s search.</summary>
    public static IReadOnlyList<DeviceBackend> All
    {
        get
        {
            lock (s_registered)
            {
                return s_registered.OrderBy(b => b.Order).ToArray();
            }
        }
    }

    /// <param name="kind">The kind of its devices.</param>
    /// <param name="name">The selector's word: <c>cuda</c> in <c>cuda:0</c>.</param>
    /// <param name="title">Its devices as messages name them: <c>CUDA</c> in <c>no CUDA device found</c>.</param>
    /// <param name="order">Where it comes in discovery and in <c>auto</c>'s search, lowest first.</param>
    /// <param name="index">How a selector's <c>:index</c> reads (<c>N</c>, <c>P.D</c>); null where a selector takes none.</param>
    /// <param name="autoDescription">How <c>auto</c> names what it picked here (<c>a CUDA GPU</c>); null where the device's id says enough.</param>
    protected DeviceBackend(DeviceKind kind, string name, string title, int order, string? index = null, string? autoDescription = null)
    {
        Kind = kind;
        Name = name;
        Title = title;
        Order = order;
        TakesIndex = index is not null;
        Syntax = index is null ? name : $"{name}[:{index}]";
        AutoDescription = autoDescription;
    }

    public DeviceKind Kind { get; }

    /// <summary>Its devices as messages name them: <c>CUDA</c> in <c>no CUDA device found</c>.</summary>
    public string Title { get; }

    /// <summary>The selector's word: <c>cuda</c> in <c>cuda:0</c>.</summary>
    public string Name { get; }

    /// <summary>Where the backend comes in discovery and in <c>auto</c>'s search, lowest first.</summary>
    public int Order { get; }

    /// <summary>Whether a selector may add <c>:index</c> after <see cref="Name"/>.</summary>
    public bool TakesIndex { get; }

    /// <summary>The selector as messages show it, e.g. <c>cuda[:N]</c>.</summary>
    public string Syntax { get; }

    /// <summary>How <c>auto</c> names what it picked here (<c>a CUDA GPU</c>); null where the device's id says enough.</summary>
    public string? AutoDescription { get; }

    /// <summary>Adds a backend; called once per backend, by its module initializer.</summary>
    public static void Register(DeviceBackend backend)
    {
        lock (s_registered)
        {
            s_registered.Add(backend);
        }
    }

    /// <summary>The backend of a kind of device.</summary>
    public static DeviceBackend Of(DeviceKind kind) => All.Single(b => b.Kind == kind);

    /// <summary>Every device of this backend, or one line on why there is none (beside devices, on what it could not list). Never throws.</summary>
    public abstract DeviceDiscovery Discover();

    /// <summary>Opens the device a selector names: the one its index names, else <see cref="Default"/>.</summary>
    /// <param name="index">What follows the colon, lower case; null without one (never given unless <see cref="TakesIndex"/>).</param>
    /// <param name="selector">The selector as given, for messages.</param>
    /// <exception cref="DeviceUnavailableException">No such device here; one line.</exception>
    public Device Open(string? index, string selector, KernelCache cache)
    {
        // The selector is checked before the machine, so a typo is named as such everywhere.
        string? asked = index is null ? null : IdIndex(index, selector);
        DeviceDiscovery found = Discover();
        if (found.Devices.Count == 0)
        {
            throw new DeviceUnavailableException(found.Problem ?? $"no {Title} device found");
        }

        DeviceInfo device = asked is null
            ? Default(found)
            : found.Devices.FirstOrDefault(d => d.Id == $"{Name}:{asked}")
                ?? throw new DeviceUnavailableException(
                    $"no {Title} device {asked}: found {found.Listing}{(found.Problem is { } problem ? $" ({problem})" : string.Empty)}");
        return Open(device, cache);
    }

    /// <summary>Opens a device that <see cref="Discover"/> found.</summary>
    public abstract Device Open(DeviceInfo found, KernelCache cache);

    /// <summary>
    /// The device <c>auto</c> should take from what this backend found, or null with one line on
    /// why it should not take one here. By default, the first device found.
    /// </summary>
    public virtual DeviceInfo? ForAuto(DeviceDiscovery found, out string whyNone)
    {
        whyNone = found.Problem ?? $"no {Title} device found";
        return found.Devices.FirstOrDefault();
    }

    /// <summary>Peak FP32 and memory figures measured on one of this backend's devices.</summary>
    public virtual DevicePeaks Measure(Device device) => DeviceProbe.Kernels(device);

    /// <summary>
    /// A selector's index as the device's id writes it (<c>07</c> is <c>7</c>), or
    /// <see cref="DeviceUnavailableException"/> for one that is not this backend's; only called where <see cref="TakesIndex"/>.
    /// </summary>
    protected virtual string IdIndex(string index, string selector) => throw Unknown(selector, $"use {Syntax}");

    /// <summary>The device a selector without an index opens; by default the first found.</summary>
    protected virtual DeviceInfo Default(DeviceDiscovery found) => found.Devices[0];

    /// <summary>What follows the colon in a found device's id: <c>0.1</c> in <c>opencl:0.1</c>.</summary>
    protected string IndexOf(DeviceInfo found) => found.Id[(Name.Length + 1)..];

    protected static DeviceUnavailableException Unknown(string selector, string syntax) =>
        new($"unknown device '{selector}': {syntax}");
}
