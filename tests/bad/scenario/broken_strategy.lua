return {
  handle_data = function(ctx, data)
    if then end
  end,
}
