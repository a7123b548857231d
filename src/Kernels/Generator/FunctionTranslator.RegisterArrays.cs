using System.Globalization;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace GpuViT.Kernels.Generator;

// Register arrays: 'Span<float> acc = stackalloc float[16];' is a per-thread array of compile-time
// size (C 'float acc[16]'), and constant-bound loops over them are marked for unrolling, so that
// the C compilers keep the array in registers.
internal sealed partial class FunctionTranslator
{
    /// <summary>The most elements a register array may have: past a few hundred it lives in slow local memory anyway.</summary>
    public const int MaxRegisterArrayLength = 1024;

    private void RegisterArrayDeclaration(LocalDeclarationStatementSyntax declaration, VariableDeclaratorSyntax variable, ILocalSymbol local)
    {
        ExpressionSyntax value = variable.Initializer!.Value;
        string? element = KernelTypes.RegisterArray(local.Type);
        if (element is null)
        {
            Report(Diagnostics.RegisterArray, variable, "'" + Show(variable) + "' must be a Span<float>, Span<int> or Span<uint> local, not " + local.Type.ToDisplayString());
            return;
        }

        if (value is not StackAllocArrayCreationExpressionSyntax { Initializer: null, Type: ArrayTypeSyntax array }
            || array.RankSpecifiers.Count != 1 || array.RankSpecifiers[0].Sizes.Count != 1)
        {
            Report(Diagnostics.RegisterArray, value, "'" + Show(value) + "' has an initializer or no size (write 'stackalloc " + element + "[N]'; its elements start at 0)");
            return;
        }

        ExpressionSyntax size = array.RankSpecifiers[0].Sizes[0];
        Optional<object?> length = _model.GetConstantValue(size);
        if (!length.HasValue || length.Value is not int count || count < 1 || count > MaxRegisterArrayLength)
        {
            Report(Diagnostics.RegisterArray, size, "size '" + Show(size) + "' is not a compile-time constant from 1 to " + MaxRegisterArrayLength.ToString(CultureInfo.InvariantCulture));
            return;
        }

        if (declaration.IsConst)
        {
            Report(Diagnostics.RegisterArray, declaration, "cannot be const");
            return;
        }

        // C# zeroes stackalloc memory (this project has no SkipLocalsInit), so C starts at zero
        // too and the emulator stays exact; compilers drop the stores a kernel overwrites.
        string name = KernelTypes.CName(local.Name);
        string lengthText = Constant(count, null, size, size is LiteralExpressionSyntax ? null : size.ToString());
        Line(_dialect.Scalar(element) + " " + name + "[" + lengthText + "] = { 0 };");
    }

    /// <summary>
    /// 'for (int i = A; i &lt; B; i++)' (or &lt;=, &gt;, &gt;=, --, += C, -= C) with A, B and C
    /// compile-time constants and i not assigned in the body: its trip count is known, so it is
    /// marked '#pragma unroll' (CUDA, and the clang-based OpenCL compilers) and register arrays
    /// indexed by i stay in registers.
    /// </summary>
    private bool HasConstantTripCount(ForStatementSyntax statement)
    {
        if (statement.Declaration is not { Variables.Count: 1 } declaration
            || declaration.Variables[0].Initializer is not { } initializer
            || !_model.GetConstantValue(initializer.Value).HasValue
            || _model.GetDeclaredSymbol(declaration.Variables[0]) is not ILocalSymbol counter
            || statement.Condition is not BinaryExpressionSyntax condition
            || condition.Kind() is not (SyntaxKind.LessThanExpression or SyntaxKind.LessThanOrEqualExpression
                or SyntaxKind.GreaterThanExpression or SyntaxKind.GreaterThanOrEqualExpression)
            || !IsLocal(condition.Left, counter)
            || !_model.GetConstantValue(condition.Right).HasValue
            || statement.Incrementors.Count != 1)
        {
            return false;
        }

        bool constantStep = statement.Incrementors[0] switch
        {
            PostfixUnaryExpressionSyntax postfix => IsLocal(postfix.Operand, counter),
            PrefixUnaryExpressionSyntax prefix => IsLocal(prefix.Operand, counter),
            AssignmentExpressionSyntax step when step.Kind() is SyntaxKind.AddAssignmentExpression or SyntaxKind.SubtractAssignmentExpression
                => IsLocal(step.Left, counter) && _model.GetConstantValue(step.Right).HasValue,
            _ => false,
        };
        return constantStep && !AssignsTo(statement.Statement, counter);
    }

    private bool IsLocal(ExpressionSyntax expression, ILocalSymbol local) =>
        expression is IdentifierNameSyntax && SymbolEqualityComparer.Default.Equals(_model.GetSymbolInfo(expression).Symbol, local);

    private bool AssignsTo(StatementSyntax body, ILocalSymbol local)
    {
        foreach (SyntaxNode node in body.DescendantNodes())
        {
            ExpressionSyntax? target = node switch
            {
                AssignmentExpressionSyntax assignment => assignment.Left,
                PostfixUnaryExpressionSyntax postfix => postfix.Operand,
                PrefixUnaryExpressionSyntax prefix when prefix.Kind() is SyntaxKind.PreIncrementExpression or SyntaxKind.PreDecrementExpression => prefix.Operand,
                _ => null,
            };
            if (target is not null && IsLocal(target, local))
            {
                return true;
            }
        }

        return false;
    }
}
